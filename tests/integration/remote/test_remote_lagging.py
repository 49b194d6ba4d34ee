"""A lagging client's steps are trained with correction='vtrace', not dropped; the client's
stats show the learner's side (stale drops, steps trained, queue)."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_learner, wait_for_model

pytestmark = pytest.mark.integration

STEPS = 16


def run(agent: RemoteAgent, traj=None, steps: int = STEPS):
    action = None
    for step in range(steps):
        if action is not None:
            agent.add_to_trajectory(traj, action)
        traj, action = agent.request_for_action(traj, np.full(4, step / steps))
        action.update_reward(1.0)
    return traj, action


def lagging_client(server, config):
    """One trajectory started on version 1 ends three versions later; returns the agent's
    stats and the learner's metrics once everything was consumed."""
    with RemoteAgent(config) as agent:
        late = run(agent)
        for version in range(1, 4):
            for _ in range(2):
                agent.mark_end_of_trajectory(*run(agent))
            assert wait_for_model(agent, version, timeout=30)
        agent.mark_end_of_trajectory(*late)
        assert wait_for_learner(agent, timeout=30)
        agent.refresh_model()
        agent.mark_end_of_trajectory(*run(agent))  # one more report: the learner's counters
        assert wait_for_learner(agent, timeout=30)
        return agent.stats(), server.metrics().learners[0]


def test_a_lagging_trajectory_is_trained_not_dropped(server, make_config):
    config = make_config(server.address, params={
        "rollout_steps": 2 * STEPS, "minibatch_size": STEPS, "correction": "vtrace",
        "max_staleness": 1000})
    stats, metrics = lagging_client(server, config)
    assert metrics.trajectories_received == 8
    assert metrics.stale_dropped == 0 and metrics.stale_dropped_steps == 0
    assert metrics.steps_trained == metrics.steps_received == 8 * STEPS
    assert stats.learner_stale_dropped == 0
    # The last reply was sent before its own trajectory was consumed: 7 earlier ones count.
    assert stats.learner_steps_trained >= 7 * STEPS


def test_strict_ppo_drops_it_and_the_client_sees_the_drop(server, make_config):
    config = make_config(server.address, params={"rollout_steps": 2 * STEPS,
                                                  "minibatch_size": STEPS})
    stats, metrics = lagging_client(server, config)
    assert metrics.stale_dropped == 1 and metrics.stale_dropped_steps == STEPS
    assert stats.learner_stale_dropped == 1 and stats.learner_stale_dropped_steps == STEPS
    assert 6 * STEPS <= stats.learner_steps_trained <= 7 * STEPS
