"""Checkpoint resume after a server restart, and clients that ride out the outage."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_learner, wait_for_model

pytestmark = pytest.mark.integration


def optimizer_state(server, client_id: str) -> list[torch.Tensor]:
    state = server.learner(client_id).algorithm.optimizer.state_dict()["state"]
    return [t for s in state.values() for t in s.values() if isinstance(t, torch.Tensor)]


@pytest.mark.parametrize("algorithm", ["PPO", "DQN"])
def test_restarted_server_resumes_weights_optimiser_and_version(make_server, make_config,
                                                               algorithm, play):
    params = ({"rollout_steps": 32, "minibatch_size": 16} if algorithm == "PPO" else
              {"learning_starts": 16, "minibatch_size": 8, "publish_every_updates": 4})
    first = make_server()
    with RemoteAgent(make_config(first.address, algorithm=algorithm, params=params)) as agent:
        play(agent, 6)
        assert wait_for_learner(agent, timeout=30)
    before = first.learner("c1")
    version, counters = before.version, dict(before.counters)
    weights = {k: v.copy() for k, v in before.history.latest.tensors.items()}
    moments = optimizer_state(first, "c1")
    assert version >= 2
    first.close()

    second = make_server()
    assert second.restored == ["c1"]
    after = second.learner("c1")
    assert after.version == version and after.counters == counters
    for name, array in after.history.latest.tensors.items():
        assert np.array_equal(array, weights[name]), name
    for a, b in zip(optimizer_state(second, "c1"), moments, strict=True):
        assert torch.equal(a, b)
    if algorithm == "PPO":  # 6 x 16 steps: 3 rollouts of 32, nothing pending
        assert after.algorithm._steps == before.algorithm._steps == 0
    else:
        assert after.algorithm.buffer.size == before.algorithm.buffer.size == 96
    with RemoteAgent(make_config(second.address, algorithm=algorithm, params=params)) as agent:
        assert agent.version == version  # joined the restored learner, not a fresh one
        play(agent, 6)
        assert wait_for_learner(agent, timeout=30)
    assert second.learner("c1").version > version


def test_unfinished_ppo_rollout_survives_a_restart(make_server, make_config, play):
    params = {"rollout_steps": 64, "minibatch_size": 16}
    first = make_server()
    with RemoteAgent(make_config(first.address, params=params)) as agent:
        play(agent, 3)  # 48 of 64 steps
        assert wait_for_learner(agent, timeout=30)
    first.close()
    second = make_server()
    with RemoteAgent(make_config(second.address, params=params)) as agent:
        play(agent, 1)  # 64 now: the restored 48 count towards the update
        assert wait_for_model(agent, 1, timeout=30)
    assert second.learner("c1").counters["trajectories_trained"] == 4


def test_client_keeps_acting_while_server_is_away_and_delivers_later(make_server, make_config,
                                                                    proxy, play):
    params = {"rollout_steps": 10_000}
    first = make_server()
    proxy.backend = first.port
    config = make_config(proxy.address, params=params, backoff_initial_s=0.02,
                         backoff_max_s=0.2)
    with RemoteAgent(config) as agent:
        play(agent, 2)
        assert agent.flush(10)
        first.close()
        proxy.cut()
        play(agent, 5)  # acting needs no server
        deadline = time.monotonic() + 10
        while agent.stats().send_failures < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = agent.stats()
        assert stats.send_failures >= 2 and stats.buffered == 5
        assert stats.trajectories_sent == 2

        second = make_server()  # resumes from the checkpoint written on close
        proxy.backend = second.port
        assert agent.flush(20)
        stats = agent.stats()
        assert stats.trajectories_sent == 7 and stats.buffered == 0
        assert stats.dropped_overflow == stats.dropped_rejected == 0
    assert second.wait_idle(10)
    assert second.learner("c1").counters["trajectories_received"] == 7


def test_server_restarted_without_checkpoint_gets_re_initialised(make_server, make_config,
                                                                proxy, play):
    first = make_server(checkpoint_dir=None)
    proxy.backend = first.port
    config = make_config(proxy.address, backoff_initial_s=0.02, backoff_max_s=0.2)
    with RemoteAgent(config) as agent:
        first.close()
        proxy.cut()
        second = make_server(checkpoint_dir=None)
        proxy.backend = second.port
        play(agent, 3)
        assert agent.flush(20)
        assert agent.stats().trajectories_sent == 3
    assert second.wait_idle(10)
    assert second.learner("c1").counters["trajectories_received"] == 3


def test_bounded_buffer_drops_oldest_and_counts_them(make_server, make_config, proxy, play):
    proxy.backend = None
    server = make_server()
    proxy.backend = server.port
    config = make_config(proxy.address, max_buffered_trajectories=3, backoff_initial_s=0.5,
                         backoff_max_s=0.5)
    agent = RemoteAgent(config)
    proxy.cut()
    play(agent, 5)
    agent.close(timeout=0.2)
    stats = agent.stats()
    assert stats.trajectories_ended == 5
    assert stats.dropped_overflow == 2
    assert stats.trajectories_sent + stats.dropped_at_close == 3
