"""DQN's replay transitions: a termination ends the return, a truncation bootstraps."""

from __future__ import annotations

import numpy as np

from iroko_gym.remote.config import ActionSpec, DQNConfig
from iroko_gym.remote.dqn import DQN
from iroko_gym.remote.trajectory import TrajectoryData


def _trajectory(terminated: bool, next_observation: np.ndarray | None) -> TrajectoryData:
    obs = np.arange(12, dtype=np.float32).reshape(3, 4)
    return TrajectoryData(version=1, observations=obs, actions=np.array([0, 1, 0]),
                          rewards=np.ones(3, np.float32), log_probs=np.zeros(3, np.float32),
                          masks=None, terminated=terminated, next_observation=next_observation)


def _stored(traj: TrajectoryData) -> DQN:
    dqn = DQN(DQNConfig(hidden_sizes=(8,)), 4, ActionSpec(n=2))
    dqn.ingest(traj)
    return dqn


def test_a_terminated_episode_does_not_bootstrap_its_last_step():
    buf = _stored(_trajectory(True, None)).buffer
    assert buf.size == 3
    np.testing.assert_array_equal(buf.dones[:3], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(buf.next_obs[:2], buf.obs[1:3])


def test_a_truncated_episode_bootstraps_from_its_next_observation():
    # CartPole-v1 truncates at 500 steps: the pole is still up, so the value goes on.
    following = np.full(4, 7.0, np.float32)
    buf = _stored(_trajectory(False, following)).buffer
    assert buf.size == 3
    np.testing.assert_array_equal(buf.dones[:3], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(buf.next_obs[2], following)


def test_a_truncated_step_without_its_successor_is_skipped_and_counted():
    dqn = _stored(_trajectory(False, None))
    assert dqn.buffer.size == 2 and dqn.skipped_transitions == 1
    np.testing.assert_array_equal(dqn.buffer.dones[:2], [0.0, 0.0])
