"""Malformed requests get INVALID_ARGUMENT / NOT_FOUND with a message; the server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.protocol import encode
from iroko_gym.remote.stubs import pb2

pytestmark = pytest.mark.integration


def test_unknown_client_id_is_not_found(stub, wire):
    rejected = wire.rejected
    rejected(stub.Report, pb2.ReportRequest(client_id="ghost", trajectories=[wire.trajectory()]),
             grpc.StatusCode.NOT_FOUND, "'ghost'")
    rejected(stub.GetModel, pb2.ModelRequest(client_id="ghost"), grpc.StatusCode.NOT_FOUND,
             "'ghost'")


@pytest.mark.parametrize(("fields", "fragments"), [
    ({"algorithm": "A2C"}, ("'A2C'",)),
    ({"algorithm": "ppo"}, ("'ppo'", "did you mean 'PPO'")),
    ({"params": {"learning_rat": 0.1}}, ("'learning_rat'", "learning_rate")),
    ({"params": {"gamma": 2.0}}, ("gamma=2.0",)),
    ({"obs": 0}, ("observation_size=0",)),
    ({"client_id": ""}, ("client_id",)),
    ({"algorithm": "DQN", "n": 0}, ("action.n=0",)),
    ({"params_json": "{not json"}, ("params_json",)),
])
def test_bad_init_is_invalid_argument(stub, wire, fields, fragments):
    wire.rejected(stub.Init, wire.init_request(**fields), grpc.StatusCode.INVALID_ARGUMENT,
                  *fragments)


def bad_trajectories(trajectory) -> list[tuple[pb2.Trajectory, tuple[str, ...]]]:
    wrong_obs = trajectory(obs=5)
    short_bytes = trajectory()
    short_bytes.rewards.data = short_bytes.rewards.data[:-1]
    wrong_dtype = trajectory()
    wrong_dtype.actions.CopyFrom(encode(np.zeros(3, np.float32)))
    unknown_dtype = trajectory()
    unknown_dtype.rewards.dtype = "complex64"
    out_of_range = trajectory()
    out_of_range.actions.CopyFrom(encode(np.array([0, 1, 7], np.int64)))
    mismatched = trajectory()
    mismatched.rewards.CopyFrom(encode(np.ones(2, np.float32)))
    empty = trajectory(steps=0)
    non_finite = trajectory()
    non_finite.rewards.CopyFrom(encode(np.array([1, np.nan, 1], np.float32)))
    absurd = trajectory()
    absurd.observations.shape[:] = [2**62, 4]
    no_allowed = trajectory()
    no_allowed.masks.CopyFrom(encode(np.zeros((3, 2), bool)))
    return [(wrong_obs, ("observations", "(3, 5)", "(*, 4)")),
            (short_bytes, ("rewards", "11 data bytes")),
            (wrong_dtype, ("actions", "float32", "int64")),
            (unknown_dtype, ("rewards", "complex64")),
            (out_of_range, ("actions", "outside [0, 2)")),
            (mismatched, ("rewards", "(2,)", "(3,)")),
            (empty, ("empty",)),
            (non_finite, ("rewards[1]", "finite")),
            (absurd, ("observations", "data bytes")),
            (no_allowed, ("masks", "no allowed action"))]


def test_malformed_trajectories_are_invalid_argument_and_server_keeps_serving(stub, server,
                                                                            wire):
    trajectory, rejected = wire.trajectory, wire.rejected
    stub.Init(wire.init_request(), timeout=5)
    for bad, fragments in bad_trajectories(trajectory):
        request = pb2.ReportRequest(client_id="raw", trajectories=[trajectory(), bad])
        rejected(stub.Report, request, grpc.StatusCode.INVALID_ARGUMENT, "trajectories[1]",
                 *fragments)
    reply = stub.Report(pb2.ReportRequest(client_id="raw", trajectories=[trajectory()]), timeout=5)
    assert reply.accepted == 1
    metrics = server.metrics()
    assert metrics.rejected_requests == len(bad_trajectories(trajectory))
    assert server.wait_idle(10)
    # A rejected request is rejected whole: only the final good trajectory got in.
    assert metrics.learners[0].trajectories_received == 1


def test_client_side_errors_name_the_bad_value(server, make_config):
    with RemoteAgent(make_config(server.address)) as agent:
        with pytest.raises(ConfigError, match="observation has 3 values.*observation_size=4"):
            agent.request_for_action(None, np.zeros(3))
        with pytest.raises(ConfigError, match="allows no action"):
            agent.request_for_action(None, np.zeros(4), mask=[False, False])
    with pytest.raises(ConfigError, match="unknown algorithm 'PG'"):
        make_config(server.address, algorithm="PG")
