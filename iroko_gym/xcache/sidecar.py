"""The environment sidecar: monitoring records in, the actor's answers into Redis, its own cleanup.

For every ``file_close`` record, in stream order: tokenise the lfn, build the ``Cache-v0``
observation (six tokens, size kB, fill % after the access), give the actor the reward of its
previous answer, ask it for a keep value, store the answer and the new eviction order in Redis
(one transaction), and — when the fill is above the sidecar's high watermark, which is below the
cache's own — remove files from the cache directory, keep-0 files first and least recently
accessed first, down to the low watermark.  Then acknowledge the packet.  This is the order of
one ``Cache-v0`` step, so with the load generator in lock step the live cache makes the same
decisions as the offline one.

Run it with ``iroko-xcache-sidecar`` (see :mod:`iroko_gym.xcache.cli`) or embed :class:`Sidecar`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

from iroko_gym.cache.rewards import get_reward
from iroko_gym.errors import ConfigError, IrokoError
from iroko_gym.validate import check_choice, check_int, check_real
from iroko_gym.xcache.actors import Actor
from iroko_gym.xcache.naming import Tokeniser, file_path, load_vocab
from iroko_gym.xcache.records import (
    MAX_PACKET_BYTES, AccessRecord, MalformedPacket, decode_packet, encode_ack, loopback_address,
)
from iroko_gym.xcache.store import Answer, AnswerStore

log = logging.getLogger(__name__)

RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0)
# Cache-v0's reward modes that a live cache can compute ("reuse" needs the trace's future)
LIVE_REWARDS = ("guess", "cost", "hit", "byte_hit")


class SidecarStopped(IrokoError, RuntimeError):
    """Stopped while waiting for Redis: the record in hand was not committed."""


@dataclass(frozen=True)
class SidecarConfig:
    """Settings of one sidecar; validated once."""

    cache_dir: Path
    capacity_kb: int                       # logical capacity of the cache (the trace's kB)
    redis_url: str
    high_watermark: float = 0.95           # the sidecar cleans above this fraction ...
    low_watermark: float = 0.90            # ... down to this one (below the cache's own)
    host: str = "127.0.0.1"
    port: int = 0                          # 0: a free port (Sidecar.port)
    prefix: str = "xcache:"                # Redis key prefix
    vocab: Path | None = None              # the trace's vocabulary (token ids as offline)
    reward_mode: str = "guess"             # as Cache-v0: guess | cost | hit | byte_hit (not reuse)
    hit_cost: float = 0.05
    reward_scale_kb: float = 1024.0**2     # rewards in kB are divided by this (1 GB in kB)

    def __post_init__(self) -> None:
        check_int("capacity_kb", self.capacity_kb, 1)
        low = check_real("low_watermark", self.low_watermark, 0.0, 1.0, positive=True)
        high = check_real("high_watermark", self.high_watermark, 0.0, 1.0, positive=True)
        if low > high:
            raise ConfigError(f"low_watermark={low} is above high_watermark={high}; use low <= high")
        check_int("port", self.port, 0, 65535)
        loopback_address("host", self.host)
        check_choice("reward_mode", self.reward_mode, LIVE_REWARDS)
        check_real("hit_cost", self.hit_cost, 0.0, 1.0)
        check_real("reward_scale_kb", self.reward_scale_kb, positive=True)
        if not Path(self.cache_dir).is_dir():
            raise ConfigError(f"cache_dir={str(self.cache_dir)!r} is not a directory; create it first")


@dataclass
class SidecarStats:
    """Counters of this process (Redis has the totals across restarts)."""

    packets: int = 0
    records: int = 0
    malformed_packets: int = 0
    duplicates: int = 0
    lost: int = 0
    redis_errors: int = 0
    evicted_files: int = 0
    latency_s: array = field(default_factory=lambda: array("d"))  # datagram in -> answer stored

    def summary(self) -> dict[str, Any]:
        lat = np.frombuffer(self.latency_s, dtype=np.float64) if len(self.latency_s) else np.zeros(0)
        pct = {f"latency_p{q}_ms": (float(np.percentile(lat, q)) * 1e3 if lat.size else None) for q in (50, 99)}
        return {"packets": self.packets, "records": self.records, "malformed_packets": self.malformed_packets,
                "duplicates": self.duplicates, "lost": self.lost, "redis_errors": self.redis_errors,
                "evicted_files": self.evicted_files, **pct}


class Sidecar:
    """``with Sidecar(config, actor) as s: s.serve_forever()`` (``stop()`` from another thread)."""

    def __init__(self, config: SidecarConfig, actor: Actor, store: AnswerStore | None = None) -> None:
        self.config = config
        self.actor = actor
        self.cache_dir = Path(config.cache_dir).resolve()
        self.stats = SidecarStats()
        self._reward = get_reward(config.reward_mode)
        self._reward_scale = 1.0 if config.reward_mode == "hit" else config.reward_scale_kb
        self._high_kb = config.high_watermark * config.capacity_kb
        self._low_kb = config.low_watermark * config.capacity_kb
        self._stop = threading.Event()
        self._prev: tuple[int, bool, int] | None = None  # (kB, hit, keep) of the last answered access
        self.store = store or AnswerStore.connect(config.redis_url, config.prefix)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            self._sock.bind((loopback_address("host", config.host), config.port))
            self._sock.settimeout(0.1)
            self.port = int(self._sock.getsockname()[1])
            self._restore()
        except BaseException:
            self._sock.close()
            self.store.close()
            raise

    @property
    def address(self) -> tuple[str, int]:
        return (self.config.host, self.port)

    # -- start: state from Redis --------------------------------------------------------------

    def _restore(self) -> None:
        self.next_seq, self.order, added = self._retry(self.store.load)
        vocab = load_vocab(self.config.vocab)
        self.tokeniser = Tokeniser(vocab, on_new=lambda token, tid: self._retry(self.store.add_token, token, tid))
        for token, tid in sorted(added.items(), key=lambda kv: kv[1]):
            if token not in self.tokeniser.vocab.ids:
                self.tokeniser.vocab.ids[token] = tid
        # a crash between removing files and committing that leaves them listed: drop them now
        gone = [(lfn, self.order.kb_of(lfn) or 0) for g in self.order.groups for lfn in g
                if not self._path(lfn).exists()]
        if gone:
            for lfn, _ in gone:
                self.order.remove(lfn)
            self._retry(self.store.commit_eviction, gone, self.order.used_kb)
            log.warning("%d file(s) listed in Redis were no longer on disk (crash during a cleanup)", len(gone))
        self._clean()
        log.info("sidecar restored: next_seq=%d, %d files, fill %d kB", self.next_seq, len(self.order),
                 self.order.used_kb)

    # -- the loop ------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Receive and process datagrams until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(MAX_PACKET_BYTES + 1)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                raise ConfigError(f"monitoring socket failed: {exc}") from exc
            try:
                self.handle_datagram(data, sender)
            except SidecarStopped as exc:
                log.warning("%s; the record is not acknowledged and will be processed after a restart", exc)
                return

    def handle_datagram(self, data: bytes, sender: Any = None) -> None:
        """Process one datagram (malformed ones are counted and skipped), then acknowledge it."""
        received = time.perf_counter()
        self.stats.packets += 1
        try:
            records = decode_packet(data)
        except MalformedPacket as exc:
            self.stats.malformed_packets += 1
            log.warning("malformed monitoring packet from %s skipped: %s", sender, exc)
            self._retry(self.store.count, "malformed")
            return
        for record in records:
            self._process(record, received)
        if sender is not None:
            try:
                self._sock.sendto(encode_ack(self.next_seq), sender)
            except OSError as exc:
                log.warning("cannot acknowledge to %s: %s", sender, exc)

    def _process(self, record: AccessRecord, received: float) -> None:
        if record.seq < self.next_seq:
            self.stats.duplicates += 1
            return
        lost = record.seq - self.next_seq
        self.stats.lost += lost
        if record.event == "file_purge":
            self.order.remove(record.lfn)
            self._retry(self.store.commit_purge, record.lfn, record.seq, self.order.used_kb, lost)
        else:
            self._access(record, lost)
            self.stats.latency_s.append(time.perf_counter() - received)
        self.next_seq = record.seq + 1
        self.stats.records += 1

    def _access(self, record: AccessRecord, lost: int) -> None:
        lfn, hit = record.lfn, record.hit
        if not hit and lfn in self.order:
            self.order.remove(lfn)  # the cache fetched it again: it had gone without our knowing
        admitted = self.order.kb_of(lfn)
        fill_kb = self.order.used_kb + (record.kb if admitted is None else 0)
        obs = np.empty(8, dtype=np.int64)
        obs[:6] = self.tokeniser.tokens(lfn)
        obs[6] = record.kb
        obs[7] = fill_kb * 100 // self.config.capacity_kb
        if self._prev is not None:
            prev_kb, prev_hit, prev_keep = self._prev
            reward = self._reward(prev_kb, prev_hit, False, prev_keep, record.kb, hit, self.config.hit_cost)
            self.actor.feedback(reward / self._reward_scale, obs)
        keep, version = self.actor.keep(obs)
        self._prev = (record.kb, hit, keep)
        kb = record.kb if admitted is None else admitted
        self.order.place(lfn, keep, kb)
        answer = Answer(keep=keep, seq=record.seq, hit=hit, kb=kb, obs=tuple(obs.tolist()), version=version)
        self._retry(self.store.commit_access, lfn, answer, self.order.used_kb, lost)
        self._clean()

    def _clean(self) -> None:
        """Above the high watermark: remove files down to the low one, then record it in Redis."""
        if self.order.used_kb <= self._high_kb:
            return
        victims = self.order.victims(self._low_kb)
        for lfn, _ in victims:
            try:
                self._path(lfn).unlink()
            except FileNotFoundError:
                pass  # the cache removed it first (its purge record may still be on its way)
            self.order.remove(lfn)
        self._retry(self.store.commit_eviction, victims, self.order.used_kb)
        self.stats.evicted_files += len(victims)

    def _path(self, lfn: str) -> Path:
        return file_path(self.cache_dir, lfn)

    def _retry(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` until Redis answers (backing off) or the sidecar is stopped."""
        attempt = 0
        while True:
            try:
                return fn(*args)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.stats.redis_errors += 1
                if self._stop.is_set():
                    raise SidecarStopped(f"sidecar stopped while Redis was unreachable: {exc}") from exc
                if attempt == 0:
                    log.warning("Redis unreachable (%s); retrying", exc)
                time.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1

    # -- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop, close the actor (flushing what it learned), Redis and the socket; idempotent."""
        self._stop.set()
        if self._sock.fileno() == -1:
            return
        try:
            self.actor.close()
        except Exception:
            log.exception("closing the actor failed")
        finally:
            self._sock.close()
            self.store.close()

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
