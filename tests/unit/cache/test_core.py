"""Eviction order and watermark behaviour of the cache cores, on hand-built access sequences."""

from __future__ import annotations

import pytest

from iroko_gym.cache.core import CacheGeometry, MarkedCache, PriorityCache
from iroko_gym.errors import ConfigError

GEOMETRY = CacheGeometry(capacity_kb=100)  # high watermark 95 kB, low watermark 90 kB


def contents(cache, fids=range(1, 10)) -> set[int]:
    return {f for f in fids if f in cache}


def test_marked_zero_files_go_first_then_least_recently_used() -> None:
    cache = MarkedCache(GEOMETRY)
    assert cache.access(1, 30) is False
    assert cache.step(1, 2, 30) is False  # file 1 marked keep
    assert cache.step(0, 3, 30) is False  # file 2 marked evict-first; fill 90 kB
    assert cache.step(1, 4, 30) is False  # fill 120 kB, above 95: cleaned at the next step
    assert cache.used_kb == 120
    cache.step(1, 5, 10)  # cleaning removes file 2 only (the marked-0 one): 90 kB is not > 90
    assert contents(cache) == {1, 3, 4, 5} and cache.used_kb == 100
    cache.step(1, 1, 30)  # 100 > 95: no marked-0 file left, so LRU among the kept: file 1 goes
    assert contents(cache) == {3, 4, 5, 1} and cache.used_kb == 100


def test_a_hit_refreshes_recency_and_takes_the_new_mark() -> None:
    cache = MarkedCache(GEOMETRY)
    cache.access(1, 30)
    cache.step(0, 2, 30)
    assert cache.step(1, 1, 30) is True  # hit: file 1 leaves group 0 until it is marked again
    cache.step(1, 3, 30)  # file 1 now marked keep and more recent than file 2
    cache.step(1, 4, 10)  # fill 100
    cache.step(1, 5, 1)  # 100 > 95: file 2 (least recent, kept) is evicted, 70 kB left
    assert contents(cache) == {1, 3, 4, 5}


def test_cleaning_starts_strictly_above_the_high_watermark_and_stops_at_the_low() -> None:
    cache = MarkedCache(GEOMETRY)
    cache.access(1, 50)
    cache.step(1, 2, 45)  # exactly 95 kB
    cache.step(1, 3, 1)  # 95 is not above 95: nothing evicted
    assert cache.used_kb == 96 and contents(cache) == {1, 2, 3}
    cache.step(1, 4, 1)  # 96 > 95: evict LRU (file 1, 50 kB) -> 46 <= 90, stop
    assert contents(cache) == {2, 3, 4} and cache.used_kb == 47


def test_the_file_just_marked_zero_can_be_evicted_at_once() -> None:
    """As in the original: the shown file is marked, then cleaning runs, then the next lookup."""
    cache = MarkedCache(GEOMETRY)
    cache.access(1, 40)
    cache.step(1, 2, 60)  # fill 100
    assert cache.step(0, 1, 40) is True  # file 2 marked 0 -> evicted first, file 1 stays (hit)
    assert 2 not in cache


def test_priority_cache_evicts_lowest_priority_then_least_recent() -> None:
    cache = PriorityCache(GEOMETRY)
    cache.access(1, 20)
    cache.step(0.5, 2, 20)  # each step sets the priority of the file accessed before it: 1 -> 0.5
    cache.step(0.2, 3, 20)  # 2 -> 0.2
    cache.step(0.5, 4, 20)  # 3 -> 0.5
    cache.step(0.9, 5, 20)  # 4 -> 0.9; files 1..5 fill 100 kB
    cache.step(0.9, 6, 5)  # clean to <= 90: file 2 (0.2) goes
    assert contents(cache) == {1, 3, 4, 5, 6}
    cache.step(0.9, 7, 10)  # 85 kB
    cache.step(0.9, 8, 10)  # 95 is not above 95: fill 105
    cache.step(0.9, 9, 5)  # 105 > 95: file 1 (0.5, older than file 3) goes
    assert contents(cache) == {3, 4, 5, 6, 7, 8, 9} and cache.used_kb == 90


def test_priority_cache_stays_correct_through_heap_rebuilds() -> None:
    cache = PriorityCache(GEOMETRY)
    cache.access(1, 10)
    for i in range(1000):  # many hits on two files make stale heap entries pile up
        cache.step(1.0 if i % 2 else 0.1, 1 + (i + 1) % 2, 10)
    assert len(cache._heap) < 100
    cache.step(0.1, 3, 80)  # file 1 marked 0.1 again; fill 100 kB
    cache.step(1.0, 4, 1)  # file 1 must go first
    assert contents(cache) == {2, 3, 4}


def test_protected_current_file_survives_its_own_cleaning() -> None:
    exposed, protected = PriorityCache(GEOMETRY), PriorityCache(GEOMETRY, protect_current=True)
    for cache in (exposed, protected):
        cache.access(1, 50)
        cache.step(0.9, 2, 50)
        cache.step(0.1, 3, 1)  # file 2 has the lowest priority and is the file just accessed
    assert 2 not in exposed and 1 in exposed
    assert 2 in protected and 1 not in protected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capacity_kb": 0},
        {"capacity_kb": 10, "high_watermark": 0.8, "low_watermark": 0.9},
        {"capacity_kb": 10, "low_watermark": 0},
    ],
)
def test_bad_geometry_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        CacheGeometry(**kwargs)


def test_cache_smaller_than_a_file_names_both_sizes() -> None:
    with pytest.raises(ConfigError, match=r"100 kB is smaller than the largest file .*101 kB"):
        GEOMETRY.check_fits(101)
    with pytest.raises(ConfigError, match="cache_size_tb"):
        CacheGeometry.from_tb(-1.0)
