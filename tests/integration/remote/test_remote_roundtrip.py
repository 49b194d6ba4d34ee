"""Init / act / report / update round trip, versions and diffs, shared client ids."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_model
from iroko_gym.remote.config import ActionSpec

pytestmark = pytest.mark.integration


def assert_same_weights(agent: RemoteAgent, server, client_id: str) -> None:
    local = agent.snapshot
    remote = server.learner(client_id).history.latest
    assert local.version == remote.version
    assert set(local.tensors) == set(remote.tensors)
    for name, array in remote.tensors.items():
        assert local.tensors[name].dtype == array.dtype
        assert np.array_equal(local.tensors[name].view(np.uint32), array.view(np.uint32)), name
    assert dict(local.scalars) == dict(remote.scalars)


def test_round_trip_trains_and_client_syncs_bit_identical_weights(server, make_config, play):
    config = make_config(server.address, params={"rollout_steps": 64, "minibatch_size": 32})
    with RemoteAgent(config) as agent:
        assert agent.version == 1
        play(agent, 4)  # 64 steps: exactly one rollout
        assert agent.flush(10)
        assert server.wait_idle(30)
        learner = server.learner("c1")
        assert learner.version == 2
        assert agent.refresh_model() == 2
        assert_same_weights(agent, server, "c1")
        stats = agent.stats()
        assert stats.trajectories_sent == 4 and stats.steps_sent == 64
        assert stats.dropped_overflow == stats.dropped_rejected == 0
    metrics = server.metrics().learners[0]
    assert metrics.trajectories_received == 4 and metrics.steps_received == 64
    assert metrics.trajectories_trained == 4 and metrics.stale_dropped == 0
    assert metrics.updates == 1 and {"policy_loss", "value_loss", "entropy", "approx_kl"} <= set(
        metrics.last)


def test_client_picks_up_diffs_through_report_replies(server, make_config, play):
    config = make_config(server.address, params={"rollout_steps": 32, "minibatch_size": 16})
    with RemoteAgent(config) as agent:
        for expected in (2, 3, 4):
            play(agent, 2)
            assert wait_for_model(agent, expected - 1, timeout=30)
            assert agent.version == expected
            assert_same_weights(agent, server, "c1")
        stats = agent.stats()
        assert stats.full_models == 1  # only the initial model; every later one was a diff
        assert stats.model_updates == 4


def test_new_trajectory_uses_new_version_old_one_keeps_its_own(server, make_config, play):
    config = make_config(server.address, params={"rollout_steps": 16, "minibatch_size": 16})
    with RemoteAgent(config) as agent:
        traj, first = agent.request_for_action(None, np.zeros(4))
        agent.add_to_trajectory(traj, first)
        play(agent, 1)
        assert wait_for_model(agent, 1, timeout=30)
        traj, action = agent.request_for_action(traj, np.zeros(4))
        assert traj.version == 1 and action.version == 1
        agent.mark_end_of_trajectory(traj, action)
        fresh, action = agent.request_for_action(traj, np.zeros(4))
        assert fresh is not traj and fresh.version == agent.version == action.version == 2


def test_two_processes_sharing_a_client_id_feed_one_learner(server, make_config, play):
    config = make_config(server.address, params={"rollout_steps": 10_000})
    with RemoteAgent(config) as a, RemoteAgent(config.replace(seed=1)) as b:
        play(a, 3)
        play(b, 5, seed=1)
        assert a.flush(10) and b.flush(10)
    assert server.wait_idle(10)
    metrics = server.metrics()
    assert [m.client_id for m in metrics.learners] == ["c1"]
    assert metrics.learners[0].trajectories_received == 8


def test_shared_client_id_with_a_different_setup_is_refused(server, make_config):
    with RemoteAgent(make_config(server.address)):
        with pytest.raises(ConfigError, match="different setup"):
            RemoteAgent(make_config(server.address, params={"learning_rate": 0.1}))
        with pytest.raises(ConfigError, match="different setup"):
            RemoteAgent(make_config(server.address, obs_size=5))


def test_distinct_client_ids_get_distinct_learners(server, make_config, play):
    with RemoteAgent(make_config(server.address, client_id="a")) as a, \
            RemoteAgent(make_config(server.address, client_id="b", algorithm="DQN")) as b:
        play(a, 1)
        play(b, 1)
        assert a.flush(10) and b.flush(10)
    assert server.wait_idle(10)
    by_id = {m.client_id: m for m in server.metrics().learners}
    assert by_id["a"].algorithm == "PPO" and by_id["b"].algorithm == "DQN"
    assert by_id["a"].trajectories_received == by_id["b"].trajectories_received == 1


def test_continuous_actions_stay_in_bounds_and_train(server, make_config):
    action = ActionSpec(low=(0.1, 0.1, 0.1), high=(1.0, 1.0, 1.0))
    config = make_config(server.address, obs_size=3, action=action,
                         params={"rollout_steps": 64, "minibatch_size": 32})
    with RemoteAgent(config) as agent:
        rng = np.random.default_rng(0)
        traj = None
        for t in range(64):
            traj, act = agent.request_for_action(traj, rng.standard_normal(3))
            assert act.act.shape == (3,) and np.all(act.act >= 0.1) and np.all(act.act <= 1.0)
            act.update_reward(-float(np.sum((act.act - 0.5) ** 2)))
            if t % 16 == 15:
                agent.mark_end_of_trajectory(traj, act, truncated=True, next_obs=np.zeros(3))
            else:
                agent.add_to_trajectory(traj, act)
        assert wait_for_model(agent, 1, timeout=30)
        assert "log_std" in agent.snapshot.tensors
        assert_same_weights(agent, server, "c1")


def test_close_flushes_and_is_idempotent(server, make_config, play):
    agent = RemoteAgent(make_config(server.address, batch_size=100, flush_interval_s=60))
    play(agent, 3)
    agent.close()
    agent.close()
    assert agent.stats().trajectories_sent == 3 and agent.stats().dropped_at_close == 0
    assert server.wait_idle(10)
    assert server.metrics().learners[0].trajectories_received == 3
