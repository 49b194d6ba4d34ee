"""``benchmark.py cache``: the learned agent trains, is scored on held-out data and a second trace, beside the policies."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from iroko_gym.bench.cache import CacheBenchConfig, load_named_trace, run_cache_grid
from iroko_gym.bench.cli import main
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.learned import ReuseAgent, load_agent_tensors
from iroko_gym.cache.modern import SIZE_SCALE
from iroko_gym.cache.policies import replay
from iroko_gym.errors import ConfigError, TraceError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gymnasium: "Cache-v0 is out of date"

TINY = ["--quick", "--learn-steps", "300", "--policies", "lru,belady,arc", "--agents", "learned"]


def test_quick_cache_benchmark_trains_scores_held_out_and_second_trace_and_plots(tmp_path, capsys) -> None:
    assert main(["cache", "--out", str(tmp_path), *TINY]) == 0
    root = tmp_path / "cache"
    table = pd.read_csv(root / "summary.csv")
    assert sorted(table["trace"].unique()) == ["default", "synth:1"] and set(table["size_tb"]) == {10.0}
    assert sorted(table["name"].unique()) == ["arc", "belady", "learned", "lru"]
    held_out = table[table["trace"] == "default"].set_index("name")
    assert held_out["part"].unique().tolist() == ["held-out (from access 10000)"]
    assert (held_out["accesses"] == 10_000).all()
    for trace in ("default", "synth:1"):
        rates = table[table["trace"] == trace].set_index("name")["file_hit_rate"]
        assert rates["belady"] == rates.max()
    lru = replay("lru", load_named_trace("default"), CacheGeometry.from_tb(10.0)).hits[10_000:].mean()
    assert held_out.loc["lru", "file_hit_rate"] == pytest.approx(lru)
    training = json.loads((root / "learned" / "training.json").read_text())
    assert training["env_steps"] == 300 and training["train_accesses"] == 10_000
    agent = load_agent_tensors(root / "learned" / "model.npz")
    assert 0.0 < float(agent(np.full(8, 0.5, np.float32))[0]) < 1.0
    assert all(p.stat().st_size > 0 for p in (root / "plots").iterdir())
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert "| default | held-out (from access 10000) | 10 | learned |" in capsys.readouterr().out


@pytest.mark.faults
def test_resume_with_a_changed_config_is_refused_naming_the_fields(tmp_path, capsys) -> None:
    base = ["cache", "--out", str(tmp_path), "--traces", "default", "--policies", "lru", "--agents", "always-keep",
            "--sizes-tb", "10"]
    assert main(base) == 0
    assert main([*base, "--resume", "--sizes-tb", "5,10", "--train-fraction", "0.6"]) == 2
    assert "differs from" in (err := capsys.readouterr().err) and "['sizes_tb', 'train_fraction']" in err
    assert main([*base, "--resume"]) == 0


@pytest.mark.faults
@pytest.mark.parametrize("value, error, message", [("synth:x", ConfigError, "synth:SEED"),
                                                   ("nope.parquet", TraceError, "'nope.parquet' does not exist")])
def test_bad_trace_names_are_named(value, error, message) -> None:
    with pytest.raises(error, match=message):
        load_named_trace(value)
    with pytest.raises(ConfigError, match="train-fraction"):
        CacheBenchConfig(train_fraction=1.0)


class _FixedQ:
    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, obs: np.ndarray) -> np.ndarray:  # Q(evict) = 1 - 2p, Q(keep) = 2p - 1
        return np.array([1 - 2 * self.p, 2 * self.p - 1])


def test_the_agent_keeps_likely_reused_and_small_files_first() -> None:
    def obs(kb: float) -> np.ndarray:
        features = np.zeros(8, np.float32)
        features[0] = math.log1p(kb) / SIZE_SCALE
        return features

    assert ReuseAgent(_FixedQ(0.9)).reuse_probability(obs(1e6)) == pytest.approx(0.9, abs=1e-6)
    likely, unlikely = ReuseAgent(_FixedQ(0.9)), ReuseAgent(_FixedQ(0.1))
    assert likely(obs(1e6))[0] > unlikely(obs(1e6))[0]
    assert likely(obs(1e5))[0] > likely(obs(1e6))[0] > likely(obs(1e7))[0]
    assert 0 < unlikely(obs(2**40))[0] < likely(obs(1))[0] < 1  # no saturation at the extremes


def test_grid_without_learned_agent_needs_no_training(tmp_path) -> None:
    table = run_cache_grid(CacheBenchConfig(out=str(tmp_path), traces=("large",), sizes_tb=(100.0,),
                                            policies=("lru", "sieve"), agents=()))
    assert set(table["name"]) == {"lru", "sieve"} and not (tmp_path / "cache" / "learned").exists()
