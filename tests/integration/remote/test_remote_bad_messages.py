"""Malformed requests get INVALID_ARGUMENT / NOT_FOUND with a message; the server keeps serving."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.protocol import encode
from iroko_gym.remote.stubs import pb2, pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.address) as channel:
        yield pb2_grpc.RemoteTrainerStub(channel)


def init_request(client_id: str = "raw", algorithm: str = "PPO", params: dict | None = None,
                 obs: int = 4, n: int = 2) -> pb2.InitRequest:
    spec = pb2.Spec(observation_size=obs)
    spec.action.discrete_n = n
    return pb2.InitRequest(client_id=client_id, algorithm=algorithm,
                           params_json=json.dumps(params or {"hidden_sizes": [8]}), spec=spec)


def trajectory(steps: int = 3, obs: int = 4, version: int = 1) -> pb2.Trajectory:
    return pb2.Trajectory(
        version=version, observations=encode(np.zeros((steps, obs), np.float32)),
        actions=encode(np.zeros(steps, np.int64)), rewards=encode(np.ones(steps, np.float32)),
        log_probs=encode(np.full(steps, -0.7, np.float32)), terminated=True)


def rejected(call, request, code: grpc.StatusCode, *fragments: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=5)
    assert info.value.code() == code, info.value.details()
    for fragment in fragments:
        assert fragment in info.value.details()


def test_unknown_client_id_is_not_found(stub):
    rejected(stub.Report, pb2.ReportRequest(client_id="ghost", trajectories=[trajectory()]),
             grpc.StatusCode.NOT_FOUND, "'ghost'")
    rejected(stub.GetModel, pb2.ModelRequest(client_id="ghost"), grpc.StatusCode.NOT_FOUND,
             "'ghost'")


@pytest.mark.parametrize(("request_", "fragments"), [
    (init_request(algorithm="A2C"), ("'A2C'",)),
    (init_request(algorithm="ppo"), ("'ppo'", "did you mean 'PPO'")),
    (init_request(params={"learning_rat": 0.1}), ("'learning_rat'", "learning_rate")),
    (init_request(params={"gamma": 2.0}), ("gamma=2.0",)),
    (init_request(obs=0), ("observation_size=0",)),
    (init_request(client_id=""), ("client_id",)),
    (init_request(algorithm="DQN", n=0), ("action.n=0",)),
])
def test_bad_init_is_invalid_argument(stub, request_, fragments):
    rejected(stub.Init, request_, grpc.StatusCode.INVALID_ARGUMENT, *fragments)


def test_params_that_are_not_json_are_invalid_argument(stub):
    request = init_request()
    request.params_json = "{not json"
    rejected(stub.Init, request, grpc.StatusCode.INVALID_ARGUMENT, "params_json")


def bad_trajectories() -> list[tuple[pb2.Trajectory, tuple[str, ...]]]:
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


def test_malformed_trajectories_are_invalid_argument_and_server_keeps_serving(stub, server):
    stub.Init(init_request(), timeout=5)
    for bad, fragments in bad_trajectories():
        request = pb2.ReportRequest(client_id="raw", trajectories=[trajectory(), bad])
        rejected(stub.Report, request, grpc.StatusCode.INVALID_ARGUMENT, "trajectories[1]",
                 *fragments)
    reply = stub.Report(pb2.ReportRequest(client_id="raw", trajectories=[trajectory()]), timeout=5)
    assert reply.accepted == 1
    metrics = server.metrics()
    assert metrics.rejected_requests == len(bad_trajectories())
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
