"""Classic policies: hand-computed hit counts, and libcachesim as an independent oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iroko_gym.cache.baselines import main as baselines_main
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.policies import POLICIES, next_use, replay
from iroko_gym.cache.trace import Trace
from iroko_gym.errors import ConfigError

from .conftest import make_trace

EXACT = dict(high_watermark=1.0, low_watermark=1.0)  # evict only what does not fit, like textbook caches
SEQUENCE = [1, 2, 3, 1, 4, 2, 5, 1]


def test_next_use() -> None:
    assert next_use(np.array([1, 2, 1, 1, 3])).tolist() == [2, 5, 3, 5, 5]


@pytest.mark.parametrize(
    "policy, hits",
    [
        # capacity 3, unit sizes; worked by hand
        ("lru", [0, 0, 0, 1, 0, 0, 0, 0]),  # 4 evicts 2, 2 evicts 3, 5 evicts 1
        ("fifo", [0, 0, 0, 1, 0, 1, 0, 0]),  # 4 evicts 1 (oldest admitted) so 2 still hits
        ("lfu", [0, 0, 0, 1, 0, 0, 0, 1]),  # file 1 has count 2 and survives
        ("belady", [0, 0, 0, 1, 0, 1, 0, 1]),  # 4 evicts 3 (never used again), 5 evicts 4
    ],
)
def test_hand_computed_hits(policy: str, hits: list[int]) -> None:
    result = replay(policy, make_trace(SEQUENCE, 1), CacheGeometry(capacity_kb=3, **EXACT))
    assert result.hits.astype(int).tolist() == hits


def test_gdsf_keeps_small_files_where_lru_keeps_the_recent_big_one() -> None:
    trace = make_trace([1, 2, 3, 4, 1, 2], [2, 2, 6, 2, 2, 2])
    geometry = CacheGeometry(capacity_kb=10, **EXACT)
    assert replay("gdsf", trace, geometry).hits.tolist() == [False] * 4 + [True, True]
    assert replay("lru", trace, geometry).hits.sum() == 0


def test_watermarks_apply_to_policies_too() -> None:
    # capacity 10, unit files: the 10th file takes the fill to 10 > 9.5, cleaning evicts file 1 (down to 9)
    trace = make_trace(list(range(1, 11)) + [1], 1)
    assert not replay("lru", trace, CacheGeometry(capacity_kb=10)).hits[-1]
    assert replay("lru", trace, CacheGeometry(capacity_kb=10, **EXACT)).hits[-1]


def test_belady_is_never_beaten_on_the_bundled_trace() -> None:
    from iroko_gym.cache.trace import load_trace

    trace, geometry = load_trace(), CacheGeometry.from_tb(10.0)
    rates = {p: replay(p, trace, geometry).file_hit_rate for p in POLICIES}
    assert rates["belady"] == max(rates.values()) > rates["fifo"]


def test_unknown_policy_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'belady'"):
        replay("beladi", make_trace([1, 2], 1), CacheGeometry(capacity_kb=3))


@pytest.fixture(scope="module")
def random_sized_trace() -> Trace:
    rng = np.random.default_rng(1)
    fid = (rng.zipf(1.3, 3000) % 300 + 1).astype(np.int64)
    kb = (fid * 7919) % 50 + 1
    return make_trace(fid.tolist(), kb.tolist())


@pytest.mark.parametrize("policy", ["lru", "fifo", "lfu", "belady", "gdsf"])
def test_policies_agree_with_libcachesim(policy: str, random_sized_trace: Trace) -> None:
    lcs = pytest.importorskip("libcachesim")
    trace = random_sized_trace
    capacity = int(trace.kb[np.unique(trace.fid, return_index=True)[1]].sum() // 6)
    cls = {"lru": lcs.LRU, "fifo": lcs.FIFO, "lfu": lcs.LFU, "belady": lcs.Belady, "gdsf": lcs.GDSF}[policy]
    cache = cls(cache_size=capacity)
    nxt = next_use(trace.fid)
    oracle = []
    for i, (f, k) in enumerate(zip(trace.fid.tolist(), trace.kb.tolist(), strict=True)):
        req = lcs.Request()
        req.obj_id, req.obj_size, req.clock_time = f, k, i
        req.next_access_vtime = int(nxt[i]) if nxt[i] < len(trace) else 2**63 - 1
        oracle.append(cache.get(req))
    ours = replay(policy, trace, CacheGeometry(capacity_kb=capacity, **EXACT)).hits
    assert 0 < ours.sum() < len(trace)
    np.testing.assert_array_equal(ours, oracle)


def test_baselines_cli_prints_every_policy_and_evaluates_an_agent(tmp_path, capsys) -> None:
    trace_path = make_trace([1, 2, 3, 1, 4, 2, 5, 1] * 20, 100).save(tmp_path / "t.parquet")
    agent = tmp_path / "agent.py"
    agent.write_text("class Keep:\n    def __call__(self, obs):\n        return 1\n")
    size_tb = 350 / 1024**3
    argv = ["--trace", str(trace_path), "--size-tb", str(size_tb), "--agent", f"{agent}:Keep"]
    argv += ["--plot", str(tmp_path / "p" / "hr.png"), "--json", str(tmp_path / "r.json")]
    assert baselines_main(argv) == 0
    out = capsys.readouterr().out
    for name in (*POLICIES, f"{agent}:Keep"):
        assert name in out
    assert (tmp_path / "p" / "hr.png").read_bytes()[:4] == b"\x89PNG"
    rows = {r["policy"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert rows[f"{agent}:Keep"]["file_hit_rate"] == rows["lru"]["file_hit_rate"] > 0


def test_baselines_cli_reports_bad_input(tmp_path, capsys) -> None:
    assert baselines_main(["--trace", str(tmp_path / "missing.parquet")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert baselines_main(["--agent", "no_colon"]) == 2
    assert "module:callable" in capsys.readouterr().err
    assert baselines_main(["--size-tb", "1e-9"]) == 2
    assert "smaller than the largest file" in capsys.readouterr().err
