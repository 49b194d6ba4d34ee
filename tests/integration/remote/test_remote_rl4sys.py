"""An RL4Sys client ported by one import line trains through the service."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iroko_gym.remote.gym_driver import wait_for_learner
from iroko_gym.remote.rl4sys import RL4SysAgent, RL4SysConfigWarning

pytestmark = pytest.mark.integration


def test_rl4sys_agent_runs_the_rl4sys_loop(server, tmp_path):
    conf = {"client_id": "ported", "algorithm_name": "PPO", "type": "onpolicy",
            "algorithm_parameters": {"batch_size": 16, "act_dim": 2, "input_size": 4,
                                     "traj_per_epoch": 2, "pi_lr": 1e-3},
            "train_server_address": server.address, "send_frequency": 1}
    path = tmp_path / "conf.json"
    path.write_text(json.dumps(conf))
    with pytest.warns(RL4SysConfigWarning, match="traj_per_epoch"):
        agent = RL4SysAgent(path, overrides={"rollout_steps": 32})
    with agent:
        assert agent.local_version == 1
        traj = None
        for episode in range(3):
            for step in range(16):
                traj, action = agent.request_for_action(traj, np.full(4, step / 16.0))
                assert action.act in (0, 1)
                action.update_reward(1.0)
                if step == 15:
                    agent.mark_end_of_trajectory(traj, action)
                else:
                    agent.add_to_trajectory(traj, action)
        assert wait_for_learner(agent, timeout=30)
        assert agent.stats().trajectories_sent == 3
    metrics = server.metrics().learners[0]
    assert metrics.trajectories_received == 3 and metrics.trajectories_trained == 2
