"""Server limits, connection diagnosis, the plaintext-token warning and checkpoint temp files:
the pure parts of the remote service's fault handling."""

from __future__ import annotations

import os

import numpy as np
import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.channel import connect_failure
from iroko_gym.remote.checkpoints import remove_stale_temp_files, save_checkpoint
from iroko_gym.remote.config import ActionSpec, ClientConfig, DQNConfig, PPOConfig
from iroko_gym.remote.limits import (ServerFull, ServerLimits, check_learner, check_room,
                                     model_parameters)
from iroko_gym.remote.networks import ActorCritic, QNetwork
from iroko_gym.remote.security import is_loopback, plaintext_token_warning

pytestmark = pytest.mark.faults


@pytest.mark.parametrize(("params", "action"), [
    (PPOConfig(hidden_sizes=(16, 8)), ActionSpec(n=3)),
    (PPOConfig(hidden_sizes=(5,)), ActionSpec(low=(0.0, 0.0), high=(1.0, 1.0))),
    (DQNConfig(hidden_sizes=(7, 7)), ActionSpec(n=4)),
])
def test_parameter_count_matches_the_real_networks(params, action):
    if isinstance(params, DQNConfig):
        nets = [QNetwork(6, action.size, params.hidden_sizes, "relu") for _ in range(2)]
    else:
        nets = [ActorCritic(6, action, params.hidden_sizes, "tanh")]
    real = sum(p.numel() for net in nets for p in net.parameters())
    assert model_parameters(params, 6, action) == real


def test_learners_that_can_never_fit_are_config_errors_naming_what_to_shrink():
    limits, four = ServerLimits(), ActionSpec(n=4)
    assert check_learner(limits, PPOConfig(), 8, four, 8) < 50 * 2**20  # the defaults are small
    with pytest.raises(ConfigError, match=r"parameters .*hidden_sizes=\[4096, 4096\]"):
        check_learner(limits, PPOConfig(hidden_sizes=(4096, 4096)), 8, four, 8)
    with pytest.raises(ConfigError, match=r"GiB per learner: lower buffer_size \(now 50,000,000"):
        check_learner(limits, DQNConfig(buffer_size=50_000_000), 8, four, 8)
    with pytest.raises(ConfigError, match="lower rollout_steps"):
        check_learner(limits, PPOConfig(rollout_steps=10_000_000, hidden_sizes=(8,)), 4096, four, 8)


def test_a_full_server_is_resource_exhausted_not_a_bad_request():
    limits = ServerLimits(max_learners=2, max_memory_bytes=1000)
    check_room(limits, 1, 400, 500)
    with pytest.raises(ServerFull, match="max_learners=2"):
        check_room(limits, 2, 0, 1)
    with pytest.raises(ServerFull, match="max_memory_bytes"):
        check_room(limits, 1, 600, 500)
    with pytest.raises(ConfigError, match="max_learners=0"):
        ServerLimits(max_learners=0)


@pytest.mark.parametrize(("details", "what", "final"), [
    ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to "
     "connect to remote host: Connection refused", "connection refused", False),
    ("errors resolving no-such-host.invalid:50051: [field:hostname lookup error:address lookup "
     "failed for no-such-host.invalid:50051: Domain name not found]", "does not resolve", True),
    ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:5: Failed to "
     "create security handshaker.", "no usable CA certificate", True),
    ("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:5: Ssl "
     "handshake failed (TSI_PROTOCOL_FAILURE)", "TLS handshake failed", True),
    ("Socket closed", "unavailable: Socket closed", False),
])
def test_connection_failures_are_named(details, what, final):
    """Details as grpcio 1.85 words them (recorded on this machine)."""
    text, is_final = connect_failure(details)
    assert what in text and is_final == final


@pytest.mark.parametrize(("host", "warned"), [
    ("127.0.0.1", False), ("127.3.4.5", False), ("::1", False), ("[::1]", False),
    ("localhost", False), ("0.0.0.0", True), ("10.1.2.3", True), ("myhost", True),
])
def test_plaintext_token_warning_beyond_loopback(host, warned):
    assert (plaintext_token_warning(host, "t", tls=False) is not None) == warned
    assert plaintext_token_warning(host, "t", tls=True) is None
    assert plaintext_token_warning(host, None, tls=False) is None
    assert is_loopback(host) == (not warned)


def test_only_temp_files_of_dead_processes_are_removed(tmp_path):
    save_checkpoint(tmp_path / "a.pt", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # nothing left by a good save
    dead = tmp_path / f".a.pt.{2**22 + 12345}.{'0' * 32}.tmp"  # above any pid_max default
    live = tmp_path / f".a.pt.{os.getpid()}.{'1' * 32}.tmp"
    for path in (dead, live):
        path.write_bytes(b"partial")
    assert remove_stale_temp_files(tmp_path) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.pt", live.name])


@pytest.mark.parametrize(("fields", "message"), [
    ({"observation_size": True}, "observation_size=True"),
    ({"observation_size": 4.0}, "observation_size=4.0"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"flush_interval_s": float("nan")}, "flush_interval_s=nan"),
    ({"seed": "x"}, "seed='x'"),
    ({"max_message_bytes": 100}, "max_message_bytes=100"),
])
def test_client_config_values_are_checked_with_the_shared_checks(fields, message):
    base = {"client_id": "x", "observation_size": 4, "action": ActionSpec(n=2)}
    with pytest.raises(ConfigError, match=message):
        ClientConfig(**{**base, **fields})


def test_every_unknown_key_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        ClientConfig.from_mapping({"client_id": "x", "observation_size": 4, "action": {"n": 2},
                                   "batch_sise": 1, "tokn": "t", "params": {}})
    assert "'batch_sise' (did you mean 'batch_size'?)" in str(info.value)
    assert "'tokn' (did you mean 'token'?)" in str(info.value)


def test_numpy_values_become_plain_python_values():
    params = PPOConfig(seed=np.int64(3), learning_rate=np.float32(0.001), hidden_sizes=[8])
    assert type(params.seed) is int and type(params.learning_rate) is float
    assert params.hidden_sizes == (8,)
    assert type(ActionSpec(n=np.int64(2)).n) is int
