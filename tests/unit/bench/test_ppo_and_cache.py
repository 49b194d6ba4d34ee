"""PPO trains, saves, reloads and runs in the grid on the fake network; the cache grid stores, tabulates, plots."""

from __future__ import annotations

import dataclasses
import functools
import io

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.bench.cache import CacheBenchConfig, draw_cache, run_cache_grid
from iroko_gym.bench.config import PPO_DEFAULTS, BenchConfig
from iroko_gym.bench.ppo import load_policy, save_model, train
from iroko_gym.bench.runner import run_grid
from iroko_gym.bench.storage import ResultStore
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.errors import ConfigError


def test_ppo_trains_saves_and_reloads(tmp_path):
    env = gym.make("dc-iroko-v0", network_factory=functools.partial(FakeNetwork, traffic_steps=None), max_steps=8)
    seen = []
    params = dataclasses.replace(PPO_DEFAULTS, rollout_steps=12, minibatch_size=3, seed=1)
    model, curve = train(env, params, 24, [{"pattern": "incast"}, {"pattern": "stride"}], on_step=seen.append)
    assert len(seen) == 24 and [c["env_steps"] for c in curve] == [8, 16, 24]
    assert [c["pattern"] for c in curve] == ["incast", "stride", "incast"]
    path = save_model(model, tmp_path / "model.pt", env.action_space.low, env.action_space.high)
    policy = load_policy(path, env.observation_space, env.action_space)
    obs, _ = env.reset(seed=0)
    action = policy(obs)
    assert action.shape == env.action_space.shape and env.action_space.contains(action)
    assert np.array_equal(action, policy(obs))  # deterministic evaluation
    other = gym.make("dc-iroko-v0", topology_params={"hosts_per_side": 3})
    with pytest.raises(ConfigError, match="another topology"):
        load_policy(path, other.observation_space, other.action_space)
    env.close()
    other.close()


def test_cache_grid_table_and_plot(tmp_path):
    cfg = CacheBenchConfig(out=str(tmp_path), traces=("default",), sizes_tb=(1.0, 5.0), policies=("lru", "belady"),
                           agents=("never-keep",))
    table = run_cache_grid(cfg)
    assert len(table) == 2 * 3
    lru = table[(table["name"] == "lru")].sort_values("size_tb")
    belady = table[(table["name"] == "belady")].sort_values("size_tb")
    assert (belady["file_hit_rate"].to_numpy() >= lru["file_hit_rate"].to_numpy()).all()
    written = draw_cache(tmp_path)
    assert all(p.stat().st_size > 0 for p in written)
    assert (tmp_path / "cache" / "summary.md").read_text().count("\n") == 2 + 6
    assert len(run_cache_grid(CacheBenchConfig(**{**cfg.__dict__, "resume": True}))) == 6


def test_grid_trains_ppo_then_evaluates_it_and_load_reuses_the_model(tmp_path, fake_factory):
    cfg = BenchConfig(out=str(tmp_path / "a"), agents=("ppo",), patterns=("incast", "hotspot"), train_patterns=("incast",),
                      seeds=1, episodes=1, steps=5, workload="long", ppo_steps=12, ppo_rollout_steps=6, ppo_minibatch_size=1, plot=False)
    assert run_grid(cfg, fake_factory, stream=io.StringIO()) == {"completed": 3, "failed": 0, "skipped": 0}
    store = ResultStore(cfg.out)
    model = store.training_dir("ppo__dumbbell__tcp__s0") / "model.pt"
    assert model.is_file() and store.learning()["env_steps"].tolist() == [5, 10]
    assert [m["spec"]["held_out"] for m in store.runs()] == [True, False]

    loaded = BenchConfig(**{**cfg.__dict__, "out": str(tmp_path / "b"), "load_model": str(model)})
    assert run_grid(loaded, fake_factory, stream=io.StringIO()) == {"completed": 2, "failed": 0, "skipped": 0}
    assert not (tmp_path / "b" / "training").exists()
