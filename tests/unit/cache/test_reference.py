"""Cache-v0 reproduces gym-cache 1.0.3 step by step on a recorded fixture.

The fixture (trace, cache size, actions -> observations, rewards, done) was recorded from the
original by perf/cache_compare_original.py; rerun it (python -m perf.cache_compare_original) to regenerate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iroko_gym.cache.core import KB_PER_TB
from iroko_gym.cache.env import CacheEnv, EpisodeEndedError
from iroko_gym.cache.trace import Trace

FIXTURE = Path(__file__).parent / "fixtures" / "original_1.0.3.json"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


def _env(reference: dict) -> CacheEnv:
    frame = pd.DataFrame(reference["trace"]).set_index("time")
    return CacheEnv(trace=Trace.from_frame(frame), cache_size_tb=reference["cache_size_kb"] / KB_PER_TB)


def test_fixture_exercises_hits_evictions_and_both_reward_signs(reference: dict) -> None:
    fills = [obs[7] for obs in reference["obs"]]
    assert max(fills) > 95
    assert sum(b < a for a, b in zip(fills, fills[1:], strict=False)) >= 3  # the cache was cleaned several times
    sizes = [obs[6] for obs in reference["obs"]]
    assert len(set(sizes)) < len(sizes)  # files are read again
    assert min(reference["rewards"]) < 0 < max(reference["rewards"])


def test_cache_v0_matches_original_step_by_step(reference: dict) -> None:
    env = _env(reference)
    assert env.geometry.capacity_kb == reference["cache_size_kb"]
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, reference["reset_obs"])
    for t, action in enumerate(reference["actions"]):
        obs, reward, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(obs, reference["obs"][t], err_msg=f"observation after step {t}")
        assert reward == reference["rewards"][t], f"reward of step {t}"
        assert terminated == reference["done"][t] and not truncated
    with pytest.raises(EpisodeEndedError, match="reset"):
        env.step(0)


def test_second_reset_replays_the_same_episode(reference: dict) -> None:
    """The original crashes on a second reset(); ours starts the episode again from an empty cache."""
    env = _env(reference)
    for _ in range(2):
        env.reset()
        rewards = [env.step(a)[1] for a in reference["actions"]]
        assert rewards == reference["rewards"]
