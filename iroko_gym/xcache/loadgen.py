"""The load generator: plays the cache server (XCache) on a real directory, replaying a trace.

Each access opens ``<cache dir>/<lfn>``: if the file is there it is read to the end (a hit);
if not it is "fetched" — written in full (temp file + rename, so a reader never sees half a
file) — a miss.  Sizes are scaled: a file of ``kb`` kB takes ``ceil(kb * 1024 / scale)`` bytes on
disk.  After the access a ``file_close`` record goes to the sidecar over UDP (loopback only).

The cache has its own purge too, at a higher watermark than the sidecar's (default 98 % -> 96 %):
least recently accessed first, each removal reported as a ``file_purge`` record.  It is checked
before an access, after waiting for the window, so in lock step the sidecar has always cleaned
first; it fires only when the sidecar falls behind or is down.

``window`` is how many records may be unacknowledged before the next access waits: 1 is lock
step (each access waits until the sidecar has answered and cleaned for the previous one — the
order of a ``Cache-v0`` step); unacknowledged records are sent again after ``ack_timeout_s``, so
a restarted sidecar loses nothing.  ``window=0`` never waits and never resends (a real cache's
fire-and-forget stream); what the sidecar misses then is counted as ``lost`` from the seq gaps.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from iroko_gym.cache.trace import Trace
from iroko_gym.errors import ConfigError, IrokoError
from iroko_gym.validate import check_int, check_real
from iroko_gym.xcache.naming import file_path
from iroko_gym.xcache.records import AccessRecord, decode_ack, encode_packet, loopback_address

log = logging.getLogger(__name__)

_ZEROS = bytes(1 << 20)


class SidecarUnreachable(IrokoError, RuntimeError):
    """The sidecar acknowledged nothing for ``give_up_s`` while the load generator waited."""


@dataclass(frozen=True)
class LoadGenConfig:
    """Settings of one load generator; validated once."""

    cache_dir: Path
    capacity_kb: int                     # logical capacity (the trace's kB), as the sidecar's
    sidecar_host: str = "127.0.0.1"
    sidecar_port: int = 0
    high_watermark: float = 0.98         # the cache's own purge: above this ...
    low_watermark: float = 0.96          # ... down to this (LRU)
    scale: int = 2**20                   # logical bytes per byte on disk
    window: int = 1                      # unacknowledged records allowed; 0 = never wait
    ack_timeout_s: float = 0.5           # resend unacknowledged records after this long
    give_up_s: float = 30.0              # SidecarUnreachable after this long without progress

    def __post_init__(self) -> None:
        check_int("capacity_kb", self.capacity_kb, 1)
        check_int("sidecar_port", self.sidecar_port, 1, 65535)
        loopback_address("sidecar_host", self.sidecar_host)
        low = check_real("low_watermark", self.low_watermark, 0.0, 1.0, positive=True)
        if low > check_real("high_watermark", self.high_watermark, 0.0, 1.0, positive=True):
            raise ConfigError(f"low_watermark={low} is above high_watermark={self.high_watermark}")
        check_int("scale", self.scale, 1)
        check_int("window", self.window, 0)
        check_real("ack_timeout_s", self.ack_timeout_s, positive=True)
        check_real("give_up_s", self.give_up_s, positive=True)
        if not Path(self.cache_dir).is_dir():
            raise ConfigError(f"cache_dir={str(self.cache_dir)!r} is not a directory; create it first")


@dataclass(frozen=True)
class LoadResult:
    """What one replay did, as the cache saw it."""

    accesses: int
    hits: int
    seconds: float
    records: int         # records emitted (accesses + purges)
    acknowledged: int    # records the sidecar had processed at the end
    retransmits: int
    purged_files: int    # removed by the cache's own purge
    bytes_read: int      # on disk
    bytes_written: int
    hit_flags: bytes = field(default=b"", repr=False)  # one byte per access: 1 = hit

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    @property
    def accesses_per_s(self) -> float:
        return self.accesses / self.seconds if self.seconds > 0 else 0.0


class LoadGenerator:
    """Replays accesses on ``config.cache_dir``; ``close()`` releases the socket."""

    def __init__(self, config: LoadGenConfig) -> None:
        self.config = config
        self.cache_dir = Path(config.cache_dir)
        self._target = (loopback_address("sidecar_host", config.sidecar_host), config.sidecar_port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._stod = int(time.time())
        self._pseq = 0
        self.next_seq = 0
        self.acked = 0
        self._unacked: OrderedDict[int, bytes] = OrderedDict()
        self._lru: OrderedDict[str, int] = OrderedDict()  # files the cache believes it holds -> kB
        self._used_kb = 0
        self._counts = dict.fromkeys(("retransmits", "purged", "read", "written"), 0)

    # -- one access -----------------------------------------------------------------------------

    def access(self, lfn: str, kb: int) -> bool:
        """Read ``lfn`` (hit) or fetch and write it (miss), then report it; returns the hit."""
        self._wait_window()
        if self._used_kb > self.config.high_watermark * self.config.capacity_kb:
            self._purge()  # checked here, after the wait, so that the sidecar's cleanup goes first
        began = time.time()
        path = file_path(self.cache_dir, lfn)
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    self._counts["read"] += len(chunk)
            hit = True
        except FileNotFoundError:
            hit = False
            self._fetch(path, -(-kb * 1024 // self.config.scale))
        old = self._lru.pop(lfn, None)
        if old is not None and not hit:
            self._used_kb -= old  # removed behind our back (the sidecar's cleanup)
            old = None
        self._lru[lfn] = kb if old is None else old
        if old is None:
            self._used_kb += kb
        size = kb * 1024
        self._emit(AccessRecord("file_close", self.next_seq, lfn, size, b_hit=size if hit else 0,
                                b_miss=0 if hit else size, attach_t=began, detach_t=time.time()))
        return hit

    def _fetch(self, path: Path, nbytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                left = nbytes
                while left > 0:
                    left -= f.write(_ZEROS[: min(left, len(_ZEROS))])
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._counts["written"] += nbytes

    def _purge(self) -> None:
        """The cache's own cleanup: forget files already gone, then remove LRU files to the low mark."""
        for lfn in [lfn for lfn in self._lru if not file_path(self.cache_dir, lfn).exists()]:
            self._used_kb -= self._lru.pop(lfn)
        low = self.config.low_watermark * self.config.capacity_kb
        if self._used_kb <= self.config.high_watermark * self.config.capacity_kb:
            return
        while self._used_kb > low and self._lru:
            lfn, kb = self._lru.popitem(last=False)
            self._used_kb -= kb
            file_path(self.cache_dir, lfn).unlink(missing_ok=True)
            self._counts["purged"] += 1
            self._emit(AccessRecord("file_purge", self.next_seq, lfn, kb * 1024))

    # -- the stream -----------------------------------------------------------------------------

    def _emit(self, record: AccessRecord) -> None:
        packet = encode_packet([record], self._pseq, self._stod)
        self._pseq += 1
        self.next_seq += 1
        if self.config.window:
            self._unacked[record.seq] = packet
        self._send(packet)

    def _send(self, packet: bytes) -> None:
        try:
            self._sock.sendto(packet, self._target)
        except OSError as exc:  # ECONNREFUSED from an earlier datagram to a closed port, ENOBUFS
            log.debug("send to the sidecar failed (%s); the record stays unacknowledged", exc)

    def _read_acks(self, timeout: float) -> None:
        self._sock.settimeout(timeout)
        try:
            while True:
                try:
                    data = self._sock.recv(64)
                except ConnectionRefusedError:
                    continue  # the ICMP of an earlier send to a sidecar that was down
                ack = decode_ack(data)
                if ack is not None and ack > self.acked:
                    self.acked = ack
                    while self._unacked and next(iter(self._unacked)) < ack:
                        self._unacked.popitem(last=False)
                self._sock.settimeout(0.0)
        except (BlockingIOError, socket.timeout):
            return

    def _wait_window(self) -> None:
        """Before an access: wait until fewer than ``window`` records are unacknowledged."""
        if self.config.window == 0:
            self._read_acks(0.0)
            return
        self._wait_until(lambda: self.next_seq - self.acked < self.config.window)

    def _wait_until(self, done: Callable[[], bool]) -> None:
        """Read acks until ``done()``; resend the unacknowledged records whenever acks stall."""
        self._read_acks(0.0)
        progress_at, last = time.monotonic(), self.acked
        while not done():
            self._read_acks(self.config.ack_timeout_s)
            if done():
                return
            if self.acked > last:
                progress_at, last = time.monotonic(), self.acked
                continue
            if time.monotonic() - progress_at > self.config.give_up_s:
                raise SidecarUnreachable(
                    f"the sidecar at {self._target[0]}:{self._target[1]} acknowledged nothing for "
                    f"{self.config.give_up_s:.0f} s (processed {self.acked} of {self.next_seq} records); "
                    "is it running?")
            for packet in self._unacked.values():
                self._counts["retransmits"] += 1
                self._send(packet)

    # -- a whole replay -------------------------------------------------------------------------

    def replay(self, lfns: list[str], kbs: list[int], stop: threading.Event | None = None,
               drain_s: float = 5.0) -> LoadResult:
        """Every access in order (until ``stop``); then wait for the sidecar to catch up."""
        began = time.perf_counter()
        flags = bytearray()
        for lfn, kb in zip(lfns, kbs, strict=True):
            if stop is not None and stop.is_set():
                break
            flags.append(self.access(lfn, kb))
        if self.config.window:
            self._wait_until(lambda: self.acked >= self.next_seq)
        else:
            deadline = time.monotonic() + drain_s
            while self.acked < self.next_seq and time.monotonic() < deadline:
                self._read_acks(0.05)
        seconds = time.perf_counter() - began
        return LoadResult(accesses=len(flags), hits=sum(flags), seconds=seconds, records=self.next_seq,
                          acknowledged=self.acked, retransmits=self._counts["retransmits"],
                          purged_files=self._counts["purged"], bytes_read=self._counts["read"],
                          bytes_written=self._counts["written"], hit_flags=bytes(flags))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def trace_window(trace: Trace, start: int, length: int | None) -> tuple[int, int]:
    """``(start, end)`` rows of a replay window, validated like ``Cache-v0``'s."""
    n = len(trace)
    length = n - start if length is None else length
    check_int("start", start, 0, n - 1)
    check_int("length", length, 1, n - start)
    return start, start + length
