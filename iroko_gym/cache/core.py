"""The cache model shared by the environments and the classic policies.

Semantics (those of gym-cache 1.0.3): every miss is admitted at once; when the cache fill passes
the high watermark it is cleaned down to the low watermark.  Cleaning runs *before* the next access
is looked up, so a file can push the fill above the high watermark (and above 100 %) until then.
The environments decide eviction order through a per-file keep mark or priority; the classic
policies in :mod:`iroko_gym.cache.policies` use the same geometry with their own orders.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass

from iroko_gym.errors import ConfigError
from iroko_gym.validate import check_int, check_real

KB_PER_TB = 1024**3  # sizes are in kB; the original package calls 1024**3 kB a TB
MAX_CACHE_TB = 2.0**32  # capacities up to 2**62 kB, so fills and sums stay within int64
MAX_CAPACITY_KB = 2**62
HIGH_WATERMARK = 0.95
LOW_WATERMARK = 0.90


@dataclass(frozen=True)
class CacheGeometry:
    """Capacity and watermarks of a cache, in kB; validated on construction."""

    capacity_kb: int
    high_watermark: float = HIGH_WATERMARK
    low_watermark: float = LOW_WATERMARK

    def __post_init__(self) -> None:
        check_int("cache capacity (kB)", self.capacity_kb, 1, MAX_CAPACITY_KB)
        check_real("low_watermark", self.low_watermark, positive=True, high=1.0)
        check_real("high_watermark", self.high_watermark, positive=True, high=1.0)
        if self.low_watermark > self.high_watermark:
            raise ConfigError(
                f"watermarks must satisfy 0 < low <= high <= 1, got low={self.low_watermark!r} "
                f"high={self.high_watermark!r}"
            )

    @classmethod
    def from_tb(cls, size_tb: float, **watermarks: float) -> CacheGeometry:
        """Geometry for ``size_tb`` TB (1 TB = 1024**3 kB, as in the original)."""
        size_tb = check_real("cache_size_tb", size_tb, positive=True, high=MAX_CACHE_TB)
        return cls(capacity_kb=max(1, round(size_tb * KB_PER_TB)), **watermarks)

    @property
    def high_kb(self) -> float:
        return self.high_watermark * self.capacity_kb

    @property
    def low_kb(self) -> float:
        return self.low_watermark * self.capacity_kb

    def check_fits(self, largest_kb: int) -> None:
        """Refuse a cache that cannot hold the largest file of the trace."""
        if largest_kb > self.capacity_kb:
            raise ConfigError(
                f"cache of {self.capacity_kb} kB is smaller than the largest file of the trace "
                f"({largest_kb} kB); raise cache_size_tb above {largest_kb / KB_PER_TB:.3g}"
            )


class _WatermarkCache:
    """State common to the cores: fill, watermarks, and the file accessed last (still undecided)."""

    __slots__ = ("geometry", "used_kb", "evicted", "_high", "_low", "_pending", "_pending_kb")

    def __init__(self, geometry: CacheGeometry) -> None:
        self.geometry = geometry
        self._high = geometry.high_kb
        self._low = geometry.low_kb
        self.reset()

    def reset(self) -> None:
        """Empty the cache."""
        self.used_kb = 0
        self.evicted = 0  # files evicted since the last reset/load
        self._pending = -1
        self._pending_kb = 0


class MarkedCache(_WatermarkCache):
    """Cache whose eviction order is: files marked 0 first, least recently used first in a group.

    Each file carries the mark given for its most recent access.  ``step`` applies the mark for the
    file shown last, cleans if needed, then looks up the next access: O(1) amortised per access.
    """

    __slots__ = ("_groups",)

    def reset(self) -> None:
        super().reset()
        self._groups: tuple[OrderedDict[int, int], OrderedDict[int, int]] = (OrderedDict(), OrderedDict())

    def access(self, fid: int, kb: int) -> bool:
        """Look up ``fid``; admit it on a miss.  It stays unmarked until the next ``step``."""
        unmarked, marked = self._groups
        if fid in unmarked:
            self._pending_kb = unmarked.pop(fid)
            hit = True
        elif fid in marked:
            self._pending_kb = marked.pop(fid)
            hit = True
        else:
            self.used_kb += kb
            self._pending_kb = kb
            hit = False
        self._pending = fid
        return hit

    def step(self, mark: int, fid: int, kb: int) -> bool:
        """Mark the pending file (0 or 1), clean above the high watermark, access ``fid``."""
        self._groups[mark][self._pending] = self._pending_kb
        if self.used_kb > self._high:
            self._clean()
        return self.access(fid, kb)

    def load(self, fids: list[int], kbs: list[int], mark: int = 1) -> None:
        """Empty the cache, then hold ``fids`` (least recently used first) with ``mark``."""
        self.reset()
        self._groups[mark].update(zip(fids, kbs))
        self.used_kb = sum(kbs)

    def _clean(self) -> None:
        used = self.used_kb
        evicted = 0
        for group in self._groups:
            while used > self._low and group:
                used -= group.popitem(last=False)[1]
                evicted += 1
        self.used_kb = used
        self.evicted += evicted

    def __contains__(self, fid: int) -> bool:
        return fid == self._pending or fid in self._groups[0] or fid in self._groups[1]


class PriorityCache(_WatermarkCache):
    """Cache whose eviction order is: lowest keep priority first, least recently used among equals.

    A lazy-deletion heap of ``(priority, access number, fid)``; entries made stale by a later access
    are skipped when popped and the heap is rebuilt when stale entries dominate.  ``last_evicted``
    is the priority of the most recently evicted file (GDSF's inflation value).  With
    ``protect_current`` the file just accessed is never evicted by the cleaning that follows it
    (classic policies: the requested file is always inserted); the environment leaves it exposed,
    as the original does.
    """

    __slots__ = ("last_evicted", "protect_current", "_heap", "_current", "_clock")

    def __init__(self, geometry: CacheGeometry, protect_current: bool = False) -> None:
        self.protect_current = protect_current
        super().__init__(geometry)

    def reset(self) -> None:
        super().reset()
        self.last_evicted = 0.0
        self._heap: list[tuple[float, int, int]] = []
        # fid -> (priority, access number, kB); the access number makes heap keys unique
        self._current: dict[int, tuple[float, int, int]] = {}
        self._clock = 0

    def access(self, fid: int, kb: int) -> bool:
        """Look up ``fid``; admit it on a miss.  It keeps its old priority until the next ``step``."""
        entry = self._current.get(fid)
        if entry is None:
            self.used_kb += kb
            self._pending_kb = kb
            hit = False
        else:
            self._pending_kb = entry[2]
            hit = True
        self._pending = fid
        return hit

    def step(self, priority: float, fid: int, kb: int) -> bool:
        """Set the pending file's priority, clean above the high watermark, access ``fid``."""
        self._clock += 1
        pending = self._pending
        self._current[pending] = (priority, self._clock, self._pending_kb)
        heapq.heappush(self._heap, (priority, self._clock, pending))
        if self.used_kb > self._high:
            self._clean()
        if len(self._heap) > 4 * len(self._current) + 64:
            self._heap = [(p, c, f) for f, (p, c, _) in self._current.items()]
            heapq.heapify(self._heap)
        return self.access(fid, kb)

    def load(self, fids: list[int], kbs: list[int], priority: float = 0.5) -> None:
        """Empty the cache, then hold ``fids`` (least recently used first) with ``priority``."""
        self.reset()
        self._current = {f: (priority, c, k) for c, (f, k) in enumerate(zip(fids, kbs), start=1)}
        self._heap = [(priority, c, f) for f, (_, c, _) in self._current.items()]  # sorted by clock: a heap
        self._clock = len(fids)
        self.used_kb = sum(kbs)

    def _clean(self) -> None:
        heap, current = self._heap, self._current
        used = self.used_kb
        kept = None
        while used > self._low and heap:
            item = heapq.heappop(heap)
            entry = current.get(item[2])
            if entry is None or entry[1] != item[1]:
                continue
            if self.protect_current and item[2] == self._pending:
                kept = item
                continue
            used -= entry[2]
            del current[item[2]]
            self.last_evicted = item[0]
            self.evicted += 1
        if kept is not None:
            heapq.heappush(heap, kept)
        self.used_kb = used

    def __contains__(self, fid: int) -> bool:
        return fid == self._pending or fid in self._current
