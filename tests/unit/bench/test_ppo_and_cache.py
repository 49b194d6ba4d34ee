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
from iroko_gym.bench.ppo import TRAIN_SEED_BASE, EpisodeCycle, episode_option, load_policy, save_model, train
from iroko_gym.bench.runner import run_grid
from iroko_gym.bench.storage import ResultStore
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.errors import ConfigError


OPTIONS = [{"pattern": "incast"}, {"pattern": "stride"}]


def _fake_env(i: int, seed: int = 1):
    env = gym.make("dc-iroko-v0", network_factory=functools.partial(FakeNetwork, traffic_steps=None), max_steps=8)
    return EpisodeCycle(env, i, seed, OPTIONS)


def test_ppo_trains_saves_and_reloads(tmp_path):
    vec = gym.vector.SyncVectorEnv([lambda: _fake_env(0)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env = vec.envs[0]
    seen = []
    params = dataclasses.replace(PPO_DEFAULTS, rollout_steps=12, minibatch_size=3, seed=1)
    model, curve = train(vec, params, 24, OPTIONS, on_step=seen.append)
    assert len(seen) == 24 and [c["env_steps"] for c in curve] == [8, 16, 24]
    assert [c["pattern"] for c in curve] == ["incast", "stride", "incast"]
    assert env.episodes == 4  # three finished, the fourth reset by the vector env
    path = save_model(model, tmp_path / "model.pt")
    policy = load_policy(path, env.unwrapped)
    obs, _ = env.reset(seed=0)
    action = policy(obs)
    assert action.shape == env.action_space.shape and env.action_space.contains(action)
    assert np.array_equal(action, policy(obs))  # deterministic evaluation
    other = gym.make("dc-iroko-v0", topology_params={"hosts_per_side": 3})
    with pytest.raises(ConfigError, match="another topology"):
        load_policy(path, other.unwrapped)
    vec.close()
    other.close()


def test_episode_cycle_seeds_are_disjoint_from_evaluation_and_envs_start_apart():
    env = _fake_env(1, seed=2)
    env.reset(seed=0)  # the given seed is ignored: the cycle's own
    assert env.unwrapped.current_pattern.name == "stride"  # env 1 starts one place into the cycle
    assert env.first_seed == TRAIN_SEED_BASE + 2 * 100_000 + 10_000 > 9999 * 1000 + 999
    assert episode_option(0, 3, OPTIONS) == {"pattern": "stride"}
    env.close()


def test_two_training_envs_in_their_own_processes(tmp_path):
    vec = gym.vector.AsyncVectorEnv([functools.partial(_fake_env, i) for i in range(2)], context="fork",
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    try:
        params = dataclasses.replace(PPO_DEFAULTS, rollout_steps=8, minibatch_size=4, seed=0)
        seen = []
        _, curve = train(vec, params, 16, OPTIONS, on_step=seen.append)
    finally:
        vec.close()
    assert seen == [2] * 8
    assert sorted(c["pattern"] for c in curve) == ["incast", "stride"] and {c["env_steps"] for c in curve} == {16}


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


def test_grid_trains_over_two_env_processes(tmp_path, fake_factory):
    cfg = BenchConfig(out=str(tmp_path), agents=("ppo",), patterns=("incast",), train_patterns=("incast", "stride"),
                      seeds=1, episodes=1, steps=4, workload="long", ppo_steps=16, ppo_rollout_steps=8, ppo_minibatch_size=4,
                      train_envs=2, plot=False)
    assert run_grid(cfg, fake_factory, stream=io.StringIO()) == {"completed": 2, "failed": 0, "skipped": 0}
    learning = ResultStore(tmp_path).learning()
    assert set(learning["pattern"]) == {"incast", "stride"} and learning["env_steps"].max() == 16
