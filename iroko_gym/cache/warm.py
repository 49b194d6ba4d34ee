"""Warm start: the cache an episode window starts from is the one LRU would hold after the accesses before it.

One LRU replay of the whole trace (the discrete core with every mark 1, watermark cleaning
included) records, for every access, the kB its cache entry holds and the step whose cleaning
evicted that entry.  The cache just before access ``s`` is looked up is then a vectorised
selection: the entries of accesses ``i < s`` whose file is not read again before ``s`` and that
were not evicted by step ``s``, in access order (least recently used first).  The replay costs
one pass over the trace per environment (about 10 ms per 20 000 accesses); each reset costs a
numpy selection over the accesses before the window.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.policies import next_use
from iroko_gym.cache.trace import Trace


class WarmStart:
    """Cache contents before any access of a trace, as LRU (= a constant mark) would leave them."""

    def __init__(self, trace: Trace, geometry: CacheGeometry) -> None:
        self._fid = trace.fid
        self._next = next_use(trace.fid)
        self._evicted_at, self._entry_kb, self.first_clean = _lru_residency(
            trace.fid.tolist(), trace.kb.tolist(), geometry
        )

    def contents(self, start: int) -> tuple[list[int], list[int]]:
        """(file ids, kB) in the cache just before access ``start`` is looked up, least recent first."""
        alive = (self._next[:start] >= start) & (self._evicted_at[:start] > start)
        rows = np.flatnonzero(alive)
        return self._fid[rows].tolist(), self._entry_kb[rows].tolist()


def _lru_residency(fids: list[int], kbs: list[int], geometry: CacheGeometry) -> tuple[np.ndarray, np.ndarray, int]:
    """Per access: the step whose cleaning evicted its entry (n + 1 if none) and the entry's kB.

    Same order of operations as :class:`~iroko_gym.cache.core.MarkedCache` with every mark 1:
    at step ``j`` the file of access ``j - 1`` becomes most recent, the cache is cleaned if above
    the high watermark, then access ``j`` is looked up (a hit takes the entry out until the next
    step; a miss is admitted).  Also returns the first step that cleaned (n if none).
    """
    n = len(fids)
    evicted_at = np.full(n, n + 1, dtype=np.int64)
    entry_kb = np.empty(n, dtype=np.int64)
    cache: OrderedDict[int, int] = OrderedDict()  # fid -> access whose entry it is
    high, low = geometry.high_kb, geometry.low_kb
    used, first_clean = 0, n
    held_kb = entry_kb.tolist()  # list reads are faster than numpy scalar reads in the loop
    for j in range(n):
        if j:
            cache[fids[j - 1]] = j - 1
            if used > high:
                first_clean = min(first_clean, j)
                while used > low and cache:
                    _, entry = cache.popitem(last=False)
                    used -= held_kb[entry]
                    evicted_at[entry] = j
        entry = cache.pop(fids[j], -1)
        if entry < 0:
            used += kbs[j]
            held_kb[j] = kbs[j]
        else:
            held_kb[j] = held_kb[entry]
    entry_kb[:] = held_kb
    return evicted_at, entry_kb, first_clean
