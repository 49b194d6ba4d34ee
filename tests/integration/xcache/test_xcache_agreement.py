"""Offline and live agree: the same deterministic policy on the same trace, the same hit rate."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from iroko_gym.cache.baselines import load_agent
from iroko_gym.xcache.actors import PolicyActor
from iroko_gym.xcache.naming import file_path

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("policy_name", ["dataset-popularity", "keep_by_tokens", "always-keep"])
def test_live_hit_rate_equals_cache_v0(policy_name: str, workload, start_sidecar: Callable,
                                       make_loadgen: Callable, cache_dir, policy_spec) -> None:
    def make_policy() -> Callable:
        return load_agent(policy_spec(policy_name))

    offline_hits = workload.offline_hits(make_policy())
    offline = sum(offline_hits) / len(offline_hits)
    sidecar = start_sidecar(lambda: PolicyActor(make_policy()))
    result = make_loadgen(sidecar.sidecar.port, window=1).replay(workload.lfns, workload.kbs)
    assert result.accesses == len(workload.lfns) and result.acknowledged == result.records
    assert result.purged_files == 0  # the sidecar cleaned first every time
    assert abs(result.hit_rate - offline) <= 0.005
    assert result.hit_flags == offline_hits  # lock step: the same hits, access for access

    store = sidecar.sidecar.store
    counters = store.counters()
    assert counters["answers"] == counters["records"] == len(workload.lfns)
    assert counters["hits"] == result.hits and counters["lost"] == 0
    assert counters["evicted_files"] > 100
    # the directory holds exactly the files Redis lists, and the fill is under the high watermark
    on_disk = {"/" + str(p.relative_to(cache_dir)) for p in cache_dir.rglob("*.root")}
    assert on_disk == set(store.cached_files())
    assert counters["used_kb"] <= 0.95 * workload.capacity_kb + max(workload.kbs)
    assert all(file_path(cache_dir, lfn).stat().st_size >= 1 for lfn in list(on_disk)[:20])


def test_stored_answers_are_the_policys_answers(workload, start_sidecar: Callable, make_loadgen: Callable,
                                                policy_spec) -> None:
    keep_by_tokens = load_agent(policy_spec("keep_by_tokens"))
    sidecar = start_sidecar(lambda: PolicyActor(keep_by_tokens))
    make_loadgen(sidecar.sidecar.port).replay(workload.lfns, workload.kbs)
    answers = sidecar.sidecar.store.all_answers()
    assert len(answers) == len(set(workload.lfns))
    for lfn, answer in answers.items():
        assert answer.keep == keep_by_tokens(answer.obs) and answer.version == -1
        assert answer.obs[6] == answer.kb and 0 <= answer.obs[7] <= 100
