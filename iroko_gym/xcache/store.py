"""What the sidecar keeps in Redis, and the in-memory mirror it decides from.

Keys (``prefix`` defaults to ``xcache:``):

    <prefix>answers   hash  lfn -> JSON {"keep", "seq", "hit", "kb", "obs", "version"}: the last
                            state (observation) of every file seen and the actor's answer for it;
                            kept after the file leaves the cache
    <prefix>order     zset  lfn -> keep * 2**40 + seq for every file in the cache directory:
                            the eviction order (keep 0 first, least recently accessed first)
    <prefix>meta      hash  next_seq (records processed), used_kb (cache fill), counters
    <prefix>vocab     hash  token -> id, the tokens the sidecar added to its vocabulary

Each record is committed by one Lua script (answer, order, fill, next_seq, counters together,
atomically), so after any crash Redis holds a state that some prefix of the stream produced.  The
scripts are idempotent: a record whose seq is below next_seq changes nothing, and an eviction
counts only the files it still finds listed, so the sidecar may retry a commit whose reply was
lost (Redis killed after writing its AOF) without counting anything twice.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from iroko_gym.xcache.records import MAX_SEQ

log = logging.getLogger(__name__)

_ACCESS = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[3], 'next_seq') or '0') > seq then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[3], 'next_seq', seq + 1, 'used_kb', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'records', 1)
redis.call('HINCRBY', KEYS[3], 'answers', 1)
redis.call('HINCRBY', KEYS[3], ARGV[6] == '1' and 'hits' or 'misses', 1)
redis.call('HINCRBY', KEYS[3], 'lost', ARGV[7])
return 1
"""
_PURGE = """
local seq = tonumber(ARGV[1])
if tonumber(redis.call('HGET', KEYS[2], 'next_seq') or '0') > seq then return 0 end
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'next_seq', seq + 1, 'used_kb', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'records', 1)
redis.call('HINCRBY', KEYS[2], 'purged_files', 1)
redis.call('HINCRBY', KEYS[2], 'lost', ARGV[4])
return 1
"""
_EVICT = """
local n, kb = 0, 0
for i = 2, #ARGV, 2 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then n = n + 1; kb = kb + tonumber(ARGV[i + 1]) end
end
redis.call('HSET', KEYS[2], 'used_kb', ARGV[1])
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'evicted_files', n)
  redis.call('HINCRBY', KEYS[2], 'evicted_kb', kb)
  redis.call('HINCRBY', KEYS[2], 'cleanings', 1)
end
return n
"""
SEQ_SPAN = MAX_SEQ + 1  # keep * SEQ_SPAN + seq: keep-0 files before keep-1, then by access
COUNTERS = ("records", "hits", "misses", "answers", "duplicates", "lost", "malformed",
            "evicted_files", "evicted_kb", "purged_files", "cleanings")


@dataclass(frozen=True)
class Answer:
    """The actor's answer for one access, with the state it was given."""

    keep: int
    seq: int
    hit: bool
    kb: int
    obs: tuple[int, ...]
    version: int

    def to_json(self) -> str:
        return json.dumps({"keep": self.keep, "seq": self.seq, "hit": self.hit, "kb": self.kb,
                           "obs": list(self.obs), "version": self.version}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Answer:
        d = json.loads(text)
        return cls(keep=int(d["keep"]), seq=int(d["seq"]), hit=bool(d["hit"]), kb=int(d["kb"]),
                   obs=tuple(int(v) for v in d["obs"]), version=int(d["version"]))


class EvictionOrder:
    """Files in the cache in eviction order: keep 0 before keep 1, oldest access first in each.

    The same order as ``Cache-v0``'s :class:`~iroko_gym.cache.core.MarkedCache`, keyed by lfn,
    and it names its victims so that the sidecar can remove them from disk.
    """

    def __init__(self) -> None:
        self.groups: tuple[OrderedDict[str, int], OrderedDict[str, int]] = (OrderedDict(), OrderedDict())
        self.used_kb = 0

    def __contains__(self, lfn: str) -> bool:
        return lfn in self.groups[0] or lfn in self.groups[1]

    def __len__(self) -> int:
        return len(self.groups[0]) + len(self.groups[1])

    def kb_of(self, lfn: str) -> int | None:
        return self.groups[0].get(lfn, self.groups[1].get(lfn))

    def place(self, lfn: str, keep: int, kb: int) -> None:
        """``lfn`` was just accessed and answered: last in its group (added to the fill if new)."""
        old = self.groups[0].pop(lfn, None)
        if old is None:
            old = self.groups[1].pop(lfn, None)
        if old is None:
            self.used_kb += kb
        self.groups[keep][lfn] = kb if old is None else old

    def remove(self, lfn: str) -> int:
        """Forget ``lfn`` (gone from disk); returns its kB (0 if it was not here)."""
        kb = self.groups[0].pop(lfn, None)
        if kb is None:
            kb = self.groups[1].pop(lfn, None)
        if kb is None:
            return 0
        self.used_kb -= kb
        return kb

    def victims(self, low_kb: float) -> list[tuple[str, int]]:
        """The files to remove, first to last, to bring the fill to at most ``low_kb`` (not removed)."""
        out, used = [], self.used_kb
        for group in self.groups:
            for lfn, kb in group.items():
                if used <= low_kb:
                    return out
                out.append((lfn, kb))
                used -= kb
        return out


class AnswerStore:
    """The sidecar's Redis keys; every method is one round trip (an atomic script where it writes)."""

    def __init__(self, client: redis.Redis, prefix: str = "xcache:") -> None:
        self.r = client
        self.answers_key, self.order_key = prefix + "answers", prefix + "order"
        self.meta_key, self.vocab_key = prefix + "meta", prefix + "vocab"
        self._access = client.register_script(_ACCESS)
        self._purge = client.register_script(_PURGE)
        self._evict = client.register_script(_EVICT)

    @classmethod
    def connect(cls, url: str, prefix: str = "xcache:", timeout_s: float = 5.0) -> AnswerStore:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, prefix)

    def close(self) -> None:
        self.r.close()

    # -- load at start ----------------------------------------------------------------------

    def load(self) -> tuple[int, EvictionOrder, dict[str, int]]:
        """``(next_seq, eviction order, vocabulary additions)`` as stored."""
        meta = self.r.hgetall(self.meta_key)
        ranked = self.r.zrange(self.order_key, 0, -1, withscores=True)
        order = EvictionOrder()
        if ranked:
            kbs = self.r.hmget(self.answers_key, [lfn for lfn, _ in ranked])
            for (lfn, score), text in zip(ranked, kbs, strict=True):
                keep = 1 if score >= SEQ_SPAN else 0
                order.place(lfn.decode(), keep, Answer.from_json(text).kb)
        vocab = {k.decode(): int(v) for k, v in self.r.hgetall(self.vocab_key).items()}
        return int(meta.get(b"next_seq", 0)), order, vocab

    # -- writes -----------------------------------------------------------------------------

    def commit_access(self, lfn: str, answer: Answer, used_kb: int, lost: int) -> bool:
        """Store the answer for record ``answer.seq`` and everything that record changed.

        False if Redis had it already (a retry after a reply lost in a Redis crash)."""
        return bool(self._access(keys=[self.answers_key, self.order_key, self.meta_key],
                                 args=[answer.seq, lfn, answer.to_json(), answer.keep * SEQ_SPAN + answer.seq,
                                       used_kb, int(answer.hit), lost]))

    def commit_purge(self, lfn: str, seq: int, used_kb: int, lost: int) -> bool:
        """The cache removed ``lfn`` by itself (record ``seq``); False if already stored."""
        return bool(self._purge(keys=[self.order_key, self.meta_key], args=[seq, lfn, used_kb, lost]))

    def commit_eviction(self, victims: Iterable[tuple[str, int]], used_kb: int) -> int:
        """The sidecar's cleanup removed ``victims`` from disk; returns how many were still listed."""
        args: list[object] = [used_kb]
        for lfn, kb in victims:
            args += [lfn, kb]
        return int(self._evict(keys=[self.order_key, self.meta_key], args=args))

    def count(self, name: str, n: int = 1) -> None:
        self.r.hincrby(self.meta_key, name, n)

    def add_token(self, token: str, tid: int) -> None:
        self.r.hsetnx(self.vocab_key, token, tid)

    # -- reads ------------------------------------------------------------------------------

    def all_answers(self) -> dict[str, Answer]:
        return {k.decode(): Answer.from_json(v) for k, v in self.r.hgetall(self.answers_key).items()}

    def cached_files(self) -> list[str]:
        """lfns in the cache directory, in eviction order."""
        return [m.decode() for m in self.r.zrange(self.order_key, 0, -1)]

    def counters(self) -> dict[str, int]:
        meta = {k.decode(): int(v) for k, v in self.r.hgetall(self.meta_key).items()}
        return {name: meta.get(name, 0) for name in ("next_seq", "used_kb", *COUNTERS)}
