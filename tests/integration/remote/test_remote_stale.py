"""On-policy PPO drops (and counts) trajectories from stale versions; DQN keeps them."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_learner, wait_for_model

pytestmark = pytest.mark.integration


def episode(agent: RemoteAgent, steps: int = 16, traj=None):
    """Run ``steps`` steps, leaving the trajectory open; returns (traj, last action)."""
    action = None
    for _ in range(steps):
        if action is not None:
            agent.add_to_trajectory(traj, action)
        traj, action = agent.request_for_action(traj, np.ones(4))
        action.update_reward(1.0)
    return traj, action


def finish(agent: RemoteAgent, traj, action) -> None:
    agent.mark_end_of_trajectory(traj, action)


def run_with_late_trajectory(server, config) -> tuple[int, int]:
    """One trajectory started on version 1 is ended after the learner moved to version 2."""
    with RemoteAgent(config) as agent:
        late = episode(agent)
        for _ in range(2):
            finish(agent, *episode(agent))
        assert wait_for_learner(agent, timeout=30)
        assert wait_for_model(agent, 1, timeout=30)
        finish(agent, *late)
        assert wait_for_learner(agent, timeout=30)
        stats = agent.stats()
        assert stats.trajectories_sent == 3  # delivered; what the learner does is its business
    metrics = server.metrics().learners[0]
    assert metrics.trajectories_received == 3
    return metrics.stale_dropped, metrics.trajectories_trained


def test_ppo_drops_and_counts_stale_trajectories(server, make_config):
    config = make_config(server.address, params={"rollout_steps": 32, "minibatch_size": 16})
    assert run_with_late_trajectory(server, config) == (1, 2)


def test_ppo_max_staleness_accepts_one_version_behind(server, make_config):
    config = make_config(server.address, params={"rollout_steps": 32, "minibatch_size": 16,
                                                  "max_staleness": 1})
    assert run_with_late_trajectory(server, config) == (0, 3)


def test_dqn_is_off_policy_and_keeps_old_trajectories(server, make_config):
    config = make_config(server.address, algorithm="DQN",
                         params={"learning_starts": 0, "minibatch_size": 8,
                                 "train_every_steps": 1, "publish_every_updates": 16})
    assert run_with_late_trajectory(server, config) == (0, 3)


def test_trajectory_from_a_version_the_server_never_had_is_dropped(server, make_config):
    config = make_config(server.address, params={"rollout_steps": 1000})
    with RemoteAgent(config) as agent:
        traj, action = episode(agent, steps=4)
        traj.policy.version = 7  # as if acting on weights a restarted server lost
        finish(agent, traj, action)
        assert wait_for_learner(agent, timeout=30)
    assert server.metrics().learners[0].stale_dropped == 1
