"""Several DCEnvs at once: a gymnasium async vector env of two envs (root + Mininet)."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.dc.registry import RUN_DIR
from tests import machine

pytestmark = pytest.mark.emulation



def test_async_vector_env_of_two_runs_and_cleans_up():
    envs = gym.make_vec("dc-iroko-v0", num_envs=2, vectorization_mode="async", max_steps=5)
    try:
        obs, info = envs.reset(seed=[0, 1])
        prefixes = list(info["prefix"])
        assert len(set(prefixes)) == 2 and obs.shape == (2,) + envs.single_observation_space.shape
        assert all(any(n.startswith(p) for n in machine.links()) for p in prefixes)
        done = 0
        for _ in range(7):  # 5 steps per episode, then the vector env resets the finished envs itself
            obs, reward, _, truncated, info = envs.step(np.ones((2, 4), dtype=np.float32))
            assert obs.shape[0] == 2 and reward.shape == (2,) and np.isfinite(reward).all()
            done += int(truncated.sum())
        assert done == 2
    finally:
        envs.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(n.startswith(tuple(prefixes)) for n in machine.links()):
        time.sleep(0.1)
    assert not [n for n in machine.links() if n.startswith(tuple(prefixes))]
    assert not [p for p in prefixes if (RUN_DIR / f"{p}.json").exists()]
