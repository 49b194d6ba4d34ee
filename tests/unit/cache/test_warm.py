"""Warm windows, Cache-v1, the bundled data: episodes in which the actions change the hits."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import iroko_gym  # noqa: F401  (registers the ids)
from iroko_gym.cache.core import CacheGeometry, MarkedCache
from iroko_gym.cache.env import CacheEnv, IdleEpisodeWarning
from iroko_gym.cache.modern import FEATURES, ModernCacheEnv, trace_features
from iroko_gym.cache.policies import replay
from iroko_gym.cache.trace import load_trace
from iroko_gym.cache.warm import WarmStart

from .conftest import make_trace, tb

CACHE_IDS = ("Cache-v0", "Cache-large-v0", "Cache-continuous-v0", "Cache-v1")
KEEP = {"Cache-v0": 1, "Cache-large-v0": 1, "Cache-continuous-v0": np.ones(1, np.float32),
        "Cache-v1": np.ones(1, np.float32)}
EVICT = {"Cache-v0": 0, "Cache-large-v0": 0, "Cache-continuous-v0": np.zeros(1, np.float32),
         "Cache-v1": np.zeros(1, np.float32)}


def episode_hits(env: gym.Env, action, seed: int | None = None, options: dict | None = None) -> np.ndarray:
    _, info = env.reset(seed=seed, options=options)
    hits, terminated = [info["hit"]], False
    while not terminated:
        _, _, terminated, _, info = env.step(action)
        hits.append(info["hit"])
    return np.array(hits)


def test_warm_contents_are_the_lru_cache_before_the_window() -> None:
    trace, geometry = load_trace(), CacheGeometry.from_tb(10.0)
    warm = WarmStart(trace, geometry)
    core = MarkedCache(geometry)
    core.access(int(trace.fid[0]), int(trace.kb[0]))
    checked = 0
    for j in range(1, 12_001):
        if j in (1, 500, 7_300, 9_001, 12_000):  # before and after the first cleaning (row 7254)
            fids, kbs = warm.contents(j)
            core._groups[1][core._pending] = core._pending_kb  # what step(1, ...) does before it cleans
            if core.used_kb > core.geometry.high_kb:
                core._clean()
            assert fids == list(core._groups[1]) and kbs == list(core._groups[1].values())
            assert sum(kbs) == core.used_kb
            core.access(int(trace.fid[j]), int(trace.kb[j]))
            checked += 1
        else:
            core.step(1, int(trace.fid[j]), int(trace.kb[j]))
    assert checked == 5 and warm.first_clean == 7254


@pytest.mark.parametrize("env_id, lru_action", [("Cache-v0", 1), ("Cache-continuous-v0", [0.5]), ("Cache-v1", [0.5])])
def test_a_warm_window_continues_the_lru_replay_hit_for_hit(env_id, lru_action) -> None:
    env = gym.make(env_id, length=None, random_window=False) if env_id == "Cache-v1" else gym.make(env_id)
    lru = replay("lru", load_trace(), CacheGeometry.from_tb(10.0)).hits
    for start, length in ((9_000, 1_500), (15_000, 3_000)):
        hits = episode_hits(env, lru_action, options={"start": start, "length": length})
        np.testing.assert_array_equal(hits, lru[start:start + length])


@pytest.mark.parametrize("env_id", CACHE_IDS)
@pytest.mark.parametrize("length", [1000, 5000])
def test_keep_all_and_evict_all_differ_in_every_random_window_of_every_id(env_id, length) -> None:
    env = gym.make(env_id, length=length, random_window=True)
    for seed in (0, 1, 2):
        keep = episode_hits(env, KEEP[env_id], seed=seed)
        evict = episode_hits(env, EVICT[env_id], seed=seed)
        assert len(keep) == len(evict) == length
        assert keep.mean() != evict.mean(), (env_id, length, seed)


def test_the_large_id_fills_its_cache_on_its_bundled_trace() -> None:
    env = gym.make("Cache-large-v0", random_window=True, length=1000)
    assert len(env.unwrapped.trace) == 20_000 and env.unwrapped.geometry.capacity_kb == 100 * 1024**3
    env.reset(seed=0)
    for _ in range(999):
        info = env.step(1)[4]
    assert info["evictions"] > 0 and "no_eviction" not in info


def test_an_episode_without_eviction_says_so_and_warns_once() -> None:
    env = CacheEnv(trace=make_trace([1, 2, 1, 3], 10), cache_size_tb=tb(1000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            env.reset()
            info = [env.step(1) for _ in range(3)][-1][4]
            assert info["no_eviction"] and info["evictions"] == 0
    assert [w.category for w in caught] == [IdleEpisodeWarning]
    assert "evicted no file" in str(caught[0].message)


def test_cache_v1_passes_the_checker_and_returns_scaled_features_and_hit_rewards() -> None:
    env = gym.make("Cache-v1")
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=4)
    assert obs.dtype == np.float32 and obs.shape == (len(FEATURES),) and info["access"] >= 7254
    rewards = []
    for _ in range(1999):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and obs[1] == info["hit"] and reward == float(info["hit"])
        rewards.append(reward)
    assert terminated and not truncated and 0.2 < np.mean(rewards) < 0.9
    byte = gym.make("Cache-v1", reward_mode="byte_hit")
    byte.reset(seed=4)
    values = [byte.step([0.5])[1] for _ in range(1999)]
    assert 0.3 < np.mean(values) < 3.0  # in units of the mean file size


def test_v1_features_by_hand() -> None:
    trace = make_trace([5, 6, 5, 5, 7], [10, 20, 10, 10, 40])  # token 1 = file id: one dataset per file
    table = trace_features(trace)
    np.testing.assert_allclose(table[:, 0], np.log1p([10, 20, 10, 10, 40]) / np.log1p(2**40), rtol=1e-6)
    np.testing.assert_allclose(table[:, 2], np.log1p([1, 1, 2, 3, 1]) / np.log1p(10**6), rtol=1e-6)
    gap = np.log1p(10**7)
    np.testing.assert_allclose(table[:, 3], [1, 1, np.log1p(2) / gap, np.log1p(1) / gap, 1], rtol=1e-6)
    np.testing.assert_allclose(table[:, 6], 1.0)
    env = ModernCacheEnv(trace=trace, cache_size_tb=tb(1000), length=None, random_window=False)
    obs, _ = env.reset()
    assert obs[1] == 0 and obs[7] == pytest.approx(10 / 1000)
    obs = env.step([1.0])[0]
    obs = env.step([1.0])[0]
    assert obs[1] == 1  # file 5 again: a hit
