"""Classic cache policies replayed on the environments' cache core.

Every policy admits each miss and cleans from the high to the low watermark, exactly like the
environments; only the eviction order differs.  LRU is the discrete core with every file marked
"keep" (so a constant action 1 in ``Cache-v0`` *is* LRU); the others drive the priority core that
``Cache-continuous-v0`` uses, with a priority computed from the access history (or, for Belady, the
future).  Lower priority = evicted first, least recently used among equals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from iroko_gym.cache.core import CacheGeometry, MarkedCache, PriorityCache
from iroko_gym.cache.trace import Trace
from iroko_gym.validate import check_choice

PriorityFn = Callable[[int, int, int, bool], float]


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Per-access hits of one policy on one trace, and the wall time of the replay."""

    policy: str
    hits: np.ndarray  # bool, one per access
    kb: np.ndarray = field(repr=False)
    seconds: float

    @property
    def file_hit_rate(self) -> float:
        return float(self.hits.mean())

    @property
    def byte_hit_rate(self) -> float:
        return float(self.kb[self.hits].sum() / self.kb.sum())

    @property
    def requests_per_second(self) -> float:
        return len(self.hits) / self.seconds if self.seconds > 0 else float("inf")


def next_use(fid: np.ndarray) -> np.ndarray:
    """For every access, the index of the next access to the same file (``len(fid)`` if none)."""
    n = len(fid)
    order = np.lexsort((np.arange(n), fid))
    nxt = np.full(n, n, dtype=np.int64)
    same = fid[order[1:]] == fid[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt


def _lfu(trace: Trace) -> PriorityFn:
    """In-cache access count (a miss restarts it at 1)."""
    count: dict[int, int] = {}

    def priority(i: int, fid: int, kb: int, hit: bool) -> float:
        c = count[fid] + 1 if hit else 1
        count[fid] = c
        return c

    return priority


def _fifo(trace: Trace) -> PriorityFn:
    """Admission time: hits do not refresh a file."""
    admitted: dict[int, int] = {}

    def priority(i: int, fid: int, kb: int, hit: bool) -> float:
        if not hit:
            admitted[fid] = i
        return admitted[fid]

    return priority


def _belady(trace: Trace) -> PriorityFn:
    """Belady/OPT: the file needed farthest in the future goes first (needs the whole trace)."""
    farthest_first = (-next_use(trace.fid)).tolist()

    def priority(i: int, fid: int, kb: int, hit: bool) -> float:
        return farthest_first[i]

    return priority


def _gdsf(core: PriorityCache) -> Callable[[Trace], PriorityFn]:
    """GreedyDual-Size-Frequency with unit cost: ``L + frequency / size``, L = last evicted value."""

    def build(trace: Trace) -> PriorityFn:
        count: dict[int, int] = {}

        def priority(i: int, fid: int, kb: int, hit: bool) -> float:
            c = count[fid] + 1 if hit else 1
            count[fid] = c
            return core.last_evicted + c / kb

        return priority

    return build


POLICIES: tuple[str, ...] = ("lru", "lfu", "fifo", "belady", "gdsf")


def replay(policy: str, trace: Trace, geometry: CacheGeometry) -> ReplayResult:
    """Run ``policy`` (one of :data:`POLICIES`) over the whole trace from an empty cache."""
    name = check_choice("policy", policy.lower() if isinstance(policy, str) else policy, POLICIES)
    geometry.check_fits(int(trace.kb.max()))
    fids, kbs = trace.fid.tolist(), trace.kb.tolist()
    began = time.perf_counter()
    if name == "lru":
        hits = _replay_lru(fids, kbs, geometry)
    else:
        core = PriorityCache(geometry, protect_current=True)
        builders = {"lfu": _lfu, "fifo": _fifo, "belady": _belady, "gdsf": _gdsf(core)}
        hits = _replay_priority(fids, kbs, core, builders[name](trace))
    seconds = time.perf_counter() - began
    return ReplayResult(name, np.frombuffer(hits, dtype=np.bool_).copy(), trace.kb, seconds)


def _replay_lru(fids: list[int], kbs: list[int], geometry: CacheGeometry) -> bytearray:
    core = MarkedCache(geometry)
    hits = bytearray(len(fids))
    hits[0] = core.access(fids[0], kbs[0])
    step = core.step
    for i in range(1, len(fids)):
        hits[i] = step(1, fids[i], kbs[i])
    return hits


def _replay_priority(fids: list[int], kbs: list[int], core: PriorityCache, priority: PriorityFn) -> bytearray:
    hits = bytearray(len(fids))
    hit = core.access(fids[0], kbs[0])
    hits[0] = hit
    step = core.step
    for i in range(1, len(fids)):
        hit = step(priority(i - 1, fids[i - 1], kbs[i - 1], hit), fids[i], kbs[i])
        hits[i] = hit
    return hits
