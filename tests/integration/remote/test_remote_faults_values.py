"""Hostile values: every float entering a learner is checked, a training round that still goes
non-finite is rolled back, and the learner keeps serving with finite weights after each attack."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from iroko_gym.errors import RemoteError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.config import ActionSpec, params_json
from iroko_gym.remote.protocol import MalformedMessage, encode
from iroko_gym.remote.stubs import pb2

pytestmark = [pytest.mark.integration, pytest.mark.faults]

INVALID = grpc.StatusCode.INVALID_ARGUMENT
# One 3-step trajectory is a whole rollout: every good report trains and publishes.
PPO_PARAMS = {"hidden_sizes": [8], "rollout_steps": 3, "minibatch_size": 3, "epochs": 2}


def weights_finite(server, client_id: str) -> bool:
    learner = server.learner(client_id)
    return all(bool(param.isfinite().all())
               for obj in learner.algorithm.trainable() if hasattr(obj, "parameters")
               for param in obj.parameters())


def assert_still_serving(stub, server, wire, client_id: str, good: pb2.Trajectory) -> None:
    """A good report is accepted and trained on; the weights stay finite."""
    learner = server.learner(client_id)
    before = learner.version
    good.version = before  # on-policy: collected with the learner's newest version
    reply = stub.Report(pb2.ReportRequest(client_id=client_id, trajectories=[good],
                                          have_version=before), timeout=5)
    assert reply.accepted == 1
    assert server.wait_idle(30)
    assert learner.version == before + 1
    assert weights_finite(server, client_id)
    assert all(np.isfinite(a).all() for a in learner.history.latest.tensors.values())


def discrete_attacks(trajectory) -> list[tuple[str, pb2.Trajectory, tuple[str, ...]]]:
    def with_(field: str, values: np.ndarray) -> pb2.Trajectory:
        traj = trajectory()
        getattr(traj, field).CopyFrom(encode(values))
        return traj

    masked = trajectory(actions=np.array([0, 1, 0], np.int64))
    masked.masks.CopyFrom(encode(np.array([[1, 1], [1, 0], [1, 1]], bool)))
    return [
        ("NaN log_probs", with_("log_probs", np.array([-0.7, np.nan, -0.7], np.float32)),
         ("log_probs[1]", "finite")),
        ("inf log_probs", with_("log_probs", np.array([-np.inf, -0.7, -0.7], np.float32)),
         ("log_probs[0]",)),
        ("positive categorical log_probs", with_("log_probs", np.full(3, 2.0, np.float32)),
         ("log_probs[0]", "[-1e+09, 0]")),
        ("rewards of 3e38", with_("rewards", np.full(3, 3e38, np.float32)), ("rewards[0]",)),
        ("inf rewards", with_("rewards", np.array([1, 1, np.inf], np.float32)), ("rewards[2]",)),
        ("observations of 1e30", with_("observations", np.full((3, 4), 1e30, np.float32)),
         ("observations[[0, 0]]",)),
        ("NaN next_observation", with_("next_observation", np.full(4, np.nan, np.float32)),
         ("next_observation[0]",)),
        ("a mask that forbids the action taken", masked,
         ("masks[1] forbids the action taken", "actions[1]=1")),
    ]


def test_each_float_attack_is_refused_naming_the_field_and_the_learner_keeps_training(
        stub, server, wire):
    stub.Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    for _name, bad, fragments in discrete_attacks(wire.trajectory):
        wire.rejected(stub.Report, pb2.ReportRequest(client_id="raw", trajectories=[bad]),
                      INVALID, "trajectories[0]", *fragments)
        assert_still_serving(stub, server, wire, "raw", wire.trajectory())
    assert server.metrics().rejected_requests == len(discrete_attacks(wire.trajectory))


def test_box_actions_of_1e30_are_refused_and_the_gaussian_learner_keeps_training(stub, server,
                                                                                 wire):
    stub.Init(wire.init_request(client_id="box", params=PPO_PARAMS, box=([0.0, 0.0], [1.0, 1.0])),
              timeout=5)

    def box_trajectory(actions: np.ndarray) -> pb2.Trajectory:
        traj = wire.trajectory()
        traj.actions.CopyFrom(encode(actions))
        traj.log_probs.CopyFrom(encode(np.full(3, 0.5, np.float32)))  # a density may exceed 1
        return traj

    huge = np.full((3, 2), 1e30, np.float32)
    wire.rejected(stub.Report, pb2.ReportRequest(client_id="box",
                                                 trajectories=[box_trajectory(huge)]),
                  INVALID, "trajectories[0].actions[[0, 0]]")
    nan = np.array([[0.5, 0.5], [np.nan, 0.5], [0.5, 0.5]], np.float32)
    wire.rejected(stub.Report, pb2.ReportRequest(client_id="box",
                                                 trajectories=[box_trajectory(nan)]),
                  INVALID, "trajectories[0].actions[[1, 0]]")
    assert_still_serving(stub, server, wire, "box", box_trajectory(np.full((3, 2), 0.5,
                                                                           np.float32)))


def test_a_round_that_goes_non_finite_is_rolled_back_counted_and_logged(stub, server, wire,
                                                                        caplog):
    """log_probs of -1e9 pass the range check but make PPO's ratio exp(1e9) = inf."""
    stub.Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    learner = server.learner("raw")
    weights = {k: v.copy() for k, v in learner.history.latest.tensors.items()}
    poison = wire.trajectory()
    poison.log_probs.CopyFrom(encode(np.full(3, -1e9, np.float32)))
    poison.rewards.CopyFrom(encode(np.array([5.0, -3.0, 1.0], np.float32)))
    with caplog.at_level("WARNING", logger="iroko_gym.remote.learner"):
        reply = stub.Report(pb2.ReportRequest(client_id="raw", trajectories=[poison]), timeout=5)
        assert reply.accepted == 1
        assert server.wait_idle(30)
    metrics = server.metrics().learners[0]
    assert metrics.rolled_back == 1 and metrics.updates == 0
    assert "rolled back" in metrics.last_error and "non-finite" in metrics.last_error
    assert any("kept the previous weights" in r.getMessage() for r in caplog.records)
    assert learner.version == 1  # nothing published from the bad round
    for name, array in learner.history.latest.tensors.items():
        assert np.array_equal(array, weights[name])
    assert weights_finite(server, "raw")
    assert_still_serving(stub, server, wire, "raw", wire.trajectory())


def test_a_learner_whose_ingestion_raises_counts_it_and_keeps_serving(stub, server, wire):
    stub.Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    learner = server.learner("raw")
    real = learner.algorithm.ingest
    calls = []

    def broken_once(traj):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected bug")
        real(traj)

    learner.algorithm.ingest = broken_once
    stub.Report(pb2.ReportRequest(client_id="raw", trajectories=[wire.trajectory()]), timeout=5)
    assert server.wait_idle(30)
    metrics = server.metrics().learners[0]
    assert metrics.failed == 1 and "injected bug" in metrics.last_error
    assert_still_serving(stub, server, wire, "raw", wire.trajectory())


NESTED = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(("fields", "fragments"), [
    ({"params": {"learning_rate": 1e308}}, ("learning_rate=1e+308",)),
    ({"params": {"seed": "abc"}}, ("seed='abc'",)),
    ({"params": {"seed": -1}}, ("seed=-1",)),
    ({"params": {"hidden_sizes": [True, 8]}}, ("hidden_sizes[0]=True",)),
    ({"params": {"rollout_steps": True}}, ("rollout_steps=True",)),
    ({"params": {"normalize_advantages": "no"}}, ("normalize_advantages='no'",)),
    ({"params": {"epochs": 1.5}}, ("epochs=1.5",)),
    ({"params": {"hidden_sizes": 8}}, ("hidden_sizes=8",)),
    ({"params": {"gamma": 0.9, "gama": 1, "epoch": 2}}, ("'gama'", "'epoch'", "did you mean")),
    ({"params_json": '{"gamma": NaN}'}, ("gamma=nan",)),
    ({"params_json": "[1, 2]"}, ("must be a mapping",)),
    ({"params_json": NESTED}, ("params_json is nested too deeply",)),
    ({"params_json": " " * 70_000}, ("params_json is 70000 bytes",)),
    ({"client_id": "x" * 300}, ("client_id=", "256 characters")),
    ({"box": ([-1e308], [1e308])}, ("action.low[0]=-1e+308",)),
    ({"n": 10**9}, ("action.n=1000000000",)),
    ({"obs": 10**12}, ("observation_size",)),
    ({"params": {"hidden_sizes": [60_000, 60_000]}}, ("parameters", "hidden_sizes")),
    ({"algorithm": "DQN", "obs": 5000, "params": {"buffer_size": 10_000_000}},
     ("GiB", "buffer_size")),
    ({"algorithm": "DQN", "box": ([0.0], [1.0])}, ("DQN needs discrete actions",)),
])
def test_every_bad_init_is_invalid_argument_naming_the_field(stub, server, wire, fields,
                                                            fragments):
    wire.rejected(stub.Init, wire.init_request(**fields), INVALID, *fragments)
    assert server.dispatcher.learners() == []  # nothing was allocated
    stub.Init(wire.init_request(), timeout=5)  # and the server still serves


def test_client_refuses_non_finite_values_where_they_enter(server, make_config):
    config = make_config(server.address, action=ActionSpec(n=2))
    with RemoteAgent(config) as agent:
        with pytest.raises(MalformedMessage, match=r"observation\[2\]=nan") as info:
            agent.request_for_action(None, [0.0, 1.0, np.nan, 0.0])
        assert isinstance(info.value, ValueError) and isinstance(info.value, RemoteError)
        with pytest.raises(MalformedMessage, match=r"observation\[0\]=inf"):
            agent.request_for_action(None, [np.inf, 0, 0, 0])
        traj, action = agent.request_for_action(None, np.zeros(4))
        with pytest.raises(MalformedMessage, match="reward=nan"):
            action.update_reward(float("nan"))
        with pytest.raises(MalformedMessage, match="reward=3e"):
            action.update_reward(3e38)
        with pytest.raises(MalformedMessage, match=r"next_obs\[1\]"):
            agent.mark_end_of_trajectory(traj, action, truncated=True,
                                         next_obs=[0, np.nan, 0, 0])
        agent.mark_end_of_trajectory(traj, action)  # the refused calls changed nothing
        assert agent.flush(10)
        stats = agent.stats()
    assert stats.trajectories_sent == 1 and stats.dropped_rejected == 0


def test_init_params_json_is_canonical_for_numpy_values(server, make_config):
    config = make_config(server.address, params={"seed": np.int64(3), "gamma": np.float32(0.5)})
    assert json.loads(params_json(config.params))["seed"] == 3  # a plain int on the wire
    with RemoteAgent(config) as agent:
        assert agent.version == 1
