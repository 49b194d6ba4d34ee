"""The sidecar's eviction order makes the same hits as Cache-v0's MarkedCache, access for access."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.cache.core import CacheGeometry, MarkedCache
from iroko_gym.xcache.store import Answer, EvictionOrder


@pytest.mark.parametrize("seed", range(5))
def test_same_hits_as_the_offline_core(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    fids = rng.zipf(1.3, n) % 400
    kbs = {int(f): int(rng.integers(1, 50)) for f in np.unique(fids)}
    marks = rng.integers(0, 2, n)
    geometry = CacheGeometry(capacity_kb=1500)
    core = MarkedCache(geometry)
    offline = [core.access(int(fids[0]), kbs[int(fids[0])])]
    offline += [core.step(int(marks[i - 1]), int(fids[i]), kbs[int(fids[i])]) for i in range(1, n)]

    order, live, evicted = EvictionOrder(), [], 0
    for i in range(n):
        lfn = f"/s/d/f{fids[i]}"
        live.append(lfn in order)
        order.place(lfn, int(marks[i]), kbs[int(fids[i])])
        if order.used_kb > geometry.high_kb:
            for victim, _ in order.victims(geometry.low_kb):
                order.remove(victim)
                evicted += 1
            assert order.used_kb <= geometry.low_kb
    assert evicted > 100  # the cleaning ran many times
    assert live == offline


def test_victims_go_keep_0_first_then_oldest() -> None:
    order = EvictionOrder()
    for lfn, keep in (("/a", 1), ("/b", 0), ("/c", 1), ("/d", 0)):
        order.place(lfn, keep, 10)
    order.place("/a", 1, 99)  # a hit: keeps its admitted size, moves to the back of its group
    assert order.kb_of("/a") == 10 and order.used_kb == 40
    assert [v for v, _ in order.victims(0)] == ["/b", "/d", "/c", "/a"]
    assert [v for v, _ in order.victims(25)] == ["/b", "/d"]
    assert order.remove("/zz") == 0 and order.remove("/b") == 10 and len(order) == 3


def test_answers_round_trip_as_json() -> None:
    answer = Answer(keep=1, seq=7, hit=False, kb=12, obs=(1, 2, 0, 0, 0, 0, 12, 40), version=3)
    assert Answer.from_json(answer.to_json()) == answer
