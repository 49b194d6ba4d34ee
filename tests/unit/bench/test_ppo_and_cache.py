"""PPO trains, saves and reloads on the fake network; the cache grid stores, tabulates and plots."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.bench.cache import CacheBenchConfig, draw_cache, run_cache_grid
from iroko_gym.bench.ppo import PPOConfig, load_policy, save_model, train
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.errors import ConfigError


def test_ppo_trains_saves_and_reloads(tmp_path):
    env = gym.make("dc-iroko-v0", network_factory=functools.partial(FakeNetwork, traffic_steps=None), max_steps=8)
    seen = []
    model, curve = train(env, PPOConfig(total_steps=24, rollout=12), [{"pattern": "incast"}, {"pattern": "stride"}],
                         seed=1, on_step=seen.append)
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
    cfg = CacheBenchConfig(out=str(tmp_path), sizes_tb=(1.0, 5.0), policies=("lru", "belady"), agents=("never-keep",))
    table = run_cache_grid(cfg)
    assert len(table) == 2 * 3
    lru = table[(table["name"] == "lru")].sort_values("size_tb")
    belady = table[(table["name"] == "belady")].sort_values("size_tb")
    assert (belady["file_hit_rate"].to_numpy() >= lru["file_hit_rate"].to_numpy()).all()
    written = draw_cache(tmp_path)
    assert all(p.stat().st_size > 0 for p in written)
    assert (tmp_path / "cache" / "summary.md").read_text().count("\n") == 2 + 6
    assert len(run_cache_grid(CacheBenchConfig(**{**cfg.__dict__, "resume": True}))) == 6
