"""Cache environments: Gymnasium contract, reward modes, windows, monitoring and bad configuration."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

import iroko_gym  # noqa: F401  (registers the ids)
from iroko_gym.cache.baselines import evaluate_agent, load_agent
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.env import CacheEnv, ContinuousCacheEnv, EpisodeEndedError
from iroko_gym.cache.policies import replay
from iroko_gym.cache.trace import load_trace
from iroko_gym.errors import ActionError, ConfigError

from .conftest import make_trace, tb

pytestmark = pytest.mark.filterwarnings("ignore::iroko_gym.cache.env.IdleEpisodeWarning")  # tiny caches never clean

ENV_IDS = ("Cache-v0", "Cache-large-v0", "Cache-continuous-v0")
# file 1 is read three times; sizes differ so every reward is identifiable
SMALL = dict(fids=[1, 2, 1, 3, 1], kbs=[10, 20, 10, 30, 10])


def run(env: gym.Env, actions) -> tuple[list[float], list[dict]]:
    env.reset(seed=0)
    rewards, infos = [], []
    for a in actions:
        _, reward, _, _, info = env.step(a)
        rewards.append(reward)
        infos.append(info)
    return rewards, infos


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_envs_pass_the_gymnasium_checker(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == env.observation_space.dtype
    env.close()
    env.close()


def test_make_without_arguments_uses_the_bundled_trace_and_sizes() -> None:
    small, large = gym.make("Cache-v0").unwrapped, gym.make("Cache-large-v0").unwrapped
    assert len(small.trace) == len(load_trace()) > 1000
    assert small.geometry.capacity_kb == 10 * 1024**3 and large.geometry.capacity_kb == 100 * 1024**3


def test_every_observation_of_a_full_episode_is_in_the_space() -> None:
    env = gym.make("Cache-v0")
    obs, _ = env.reset(seed=3)
    actions = np.random.default_rng(3).integers(0, 2, size=len(env.unwrapped.trace))
    fills, terminated, steps = [], False, 0
    while not terminated:
        assert env.observation_space.contains(obs), obs
        obs, _, terminated, truncated, _ = env.step(int(actions[steps]))
        fills.append(obs[7])
        steps += 1
        assert not truncated
    assert steps == len(env.unwrapped.trace) - 1
    assert max(fills) >= 95  # the default trace does exercise the watermarks in Cache-v0


def test_guess_reward_scores_the_mark_against_the_previously_shown_access() -> None:
    env = CacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000))
    rewards, infos = run(env, [1, 0, 1, 0])
    # access 0 miss marked 1: -10; access 1 miss marked 0: +20; access 2 hit marked 1: +10; access 3 miss marked 0: +30
    assert rewards == [-10.0, 20.0, 10.0, 30.0]
    assert [i["hit"] for i in infos] == [False, True, False, True]
    assert infos[-1]["file_hit_rate"] == pytest.approx(2 / 5) and infos[-1]["byte_hit_rate"] == pytest.approx(20 / 80)


def test_cost_reward_is_the_fetch_cost_of_the_next_access_and_can_be_normalised() -> None:
    env = CacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000), reward_mode="cost", hit_cost=0.05)
    assert run(env, [1, 1, 1, 1])[0] == pytest.approx([-20.0, -0.5, -30.0, -0.5])
    env = CacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000), reward_mode="cost", normalize_reward=True)
    assert run(env, [1, 1, 1, 1])[0] == pytest.approx([-20 / 30, -0.5 / 30, -1.0, -0.5 / 30])


def test_continuous_env_evicts_lowest_priority_not_least_recent() -> None:
    env = ContinuousCacheEnv(trace=make_trace([1, 2, 3, 2, 1], 40), cache_size_tb=tb(100))
    _, infos = run(env, [[0.9], [0.1], [0.5], [0.5]])
    # LRU would evict file 1 first (hit on 2, miss on 1); priority 0.1 makes file 2 go instead
    assert [i["hit"] for i in infos] == [False, False, False, True]


def test_continuous_guess_reads_priority_above_half_as_keep() -> None:
    env = ContinuousCacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000), reward_mode="guess")
    assert run(env, [[0.7], [0.2], np.float32([0.5]), [0.0]])[0] == [-10.0, 20.0, 10.0, 30.0]


@pytest.mark.parametrize("agent", ["always-keep", "never-keep"])
def test_a_constant_mark_replays_lru_exactly(agent: str) -> None:
    trace = load_trace()
    lru = replay("lru", trace, CacheGeometry.from_tb(10.0))
    ours = evaluate_agent(load_agent(agent), trace, 10.0)
    assert ours.hits.sum() == lru.hits.sum() > 0
    np.testing.assert_array_equal(ours.hits, lru.hits)


def test_constant_priority_replays_lru_exactly() -> None:
    trace = load_trace()
    lru = replay("lru", trace, CacheGeometry.from_tb(10.0))
    ours = evaluate_agent(lambda obs: np.array([0.5], dtype=np.float32), trace, 10.0, "Cache-continuous-v0")
    np.testing.assert_array_equal(ours.hits, lru.hits)


def test_reset_any_number_of_times_gives_the_same_episode() -> None:
    env = gym.make("Cache-v0", length=500)
    actions = np.random.default_rng(0).integers(0, 2, size=499).tolist()
    first = run(env, actions)[0]
    run(env, actions[:10])  # abandon an episode half-way
    assert run(env, actions)[0] == first


def test_windows_by_option_and_random_windows_by_seed() -> None:
    env = gym.make("Cache-v0")
    trace = env.unwrapped.trace
    obs, info = env.reset(options={"start": 100, "length": 50})
    assert info["access"] == 100 and obs[6] == trace.kb[100] and obs[7] > 0  # warm: what LRU held at row 100
    cold = gym.make("Cache-v0", warm_start=False)
    assert cold.reset(options={"start": 100, "length": 50})[0][7] == 0  # the cache starts empty
    for _ in range(48):
        assert not env.step(1)[2]
    _, _, terminated, _, info = env.step(1)
    assert terminated and info["access"] == 149
    with pytest.raises(EpisodeEndedError, match="ended at trace row 149"):
        env.step(1)

    rand = gym.make("Cache-v0", random_window=True, length=1000)
    starts = [rand.reset(seed=s)[1]["access"] for s in (1, 1, 2)]
    assert starts[0] == starts[1] != starts[2]
    assert all(0 <= s <= len(trace) - 1000 for s in starts)


def test_monitoring_writes_one_parquet_per_episode_in_a_new_directory(tmp_path) -> None:
    path = tmp_path / "runs" / "cache" / "episode{episode}.parquet"
    env = CacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000), monitor_path=path)
    rewards, infos = run(env, [1, 0, 1, 0])
    run(env, [1, 1, 1, 1])
    written = sorted(p.name for p in path.parent.iterdir())
    assert written == ["episode0.parquet", "episode1.parquet"]  # no temp files left behind
    frame = pd.read_parquet(path.parent / "episode0.parquet")
    assert list(frame.columns) == ["access", "kB", "cache_kB", "hit", "reward"]
    assert frame["kB"].tolist() == SMALL["kbs"] and frame["hit"].tolist() == [False, False, True, False, True]
    assert frame["cache_kB"].tolist() == [10, 30, 30, 60, 60]
    assert math.isnan(frame["reward"].iloc[0]) and frame["reward"].iloc[1:].tolist() == rewards


def test_bad_configuration_is_refused_with_the_value_and_the_fix() -> None:
    trace = make_trace(**SMALL)
    with pytest.raises(ConfigError, match=r"option\(s\) 'cache_size' \(did you mean 'cache_size_tb'\?\)"):
        gym.make("Cache-v0", cache_size=3)
    with pytest.raises(ConfigError, match="did you mean 'guess'"):
        CacheEnv(trace=trace, cache_size_tb=tb(1000), reward_mode="gues")
    with pytest.raises(ConfigError, match="smaller than the largest file"):
        CacheEnv(trace=trace, cache_size_tb=tb(29))
    with pytest.raises(ConfigError, match="length"):
        CacheEnv(trace=trace, cache_size_tb=tb(1000), length=1)
    with pytest.raises(ConfigError, match=r"start 4 must be an int in \[0, 3\]"):
        CacheEnv(trace=trace, cache_size_tb=tb(1000), start=4, length=2)
    with pytest.raises(ConfigError, match="episode"):
        CacheEnv(trace=trace, cache_size_tb=tb(1000), monitor_path="out/{run}.parquet")
    env = CacheEnv(trace=trace, cache_size_tb=tb(1000))
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(options={"lenght": 3})


def test_bad_actions_and_out_of_order_calls_raise() -> None:
    env = CacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000))
    with pytest.raises(EpisodeEndedError, match="before reset"):
        env.step(1)
    env.reset()
    with pytest.raises(ActionError, match="got 2"):
        env.step(2)
    cont = ContinuousCacheEnv(trace=make_trace(**SMALL), cache_size_tb=tb(1000))
    cont.reset()
    with pytest.raises(ActionError, match="finite"):
        cont.step([float("nan")])
    cont.step([1.7])  # clipped to 1.0, as Box actions from unsquashed policies often are


def test_vector_env_runs_independent_random_windows_with_autoreset() -> None:
    envs = gym.make_vec("Cache-v0", num_envs=2, vectorization_mode="sync", length=20, random_window=True)
    obs, info = envs.reset(seed=[1, 2])
    assert obs.shape == (2, 8) and obs.dtype == np.int64 and info["access"][0] != info["access"][1]
    for _ in range(19):
        obs, _, terminated, _, info = envs.step(np.array([1, 0]))
    assert terminated.all()
    envs.step(np.array([1, 1]))  # next-step autoreset starts fresh windows instead of raising
    envs.close()
