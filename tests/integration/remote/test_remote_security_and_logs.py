"""Shared-token authentication, TLS, and the per-client TensorBoard log."""

from __future__ import annotations

import pytest

from iroko_gym.errors import RemoteError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import wait_for_model

pytestmark = pytest.mark.integration


def test_token_is_required_when_configured(make_server, make_config, play):
    server = make_server(token="s3cret")
    with pytest.raises(RemoteError, match="UNAUTHENTICATED"):
        RemoteAgent(make_config(server.address, connect_timeout_s=5))
    with pytest.raises(RemoteError, match="UNAUTHENTICATED"):
        RemoteAgent(make_config(server.address, token="wrong", connect_timeout_s=5))
    with RemoteAgent(make_config(server.address, token="s3cret")) as agent:
        play(agent)
        assert agent.flush(10)
        assert agent.stats().trajectories_sent == 1


def test_tls_with_token(make_server, make_config, certificate, play):
    cert, key = certificate
    server = make_server(tls_cert_file=cert, tls_key_file=key, token="t")
    with RemoteAgent(make_config(server.address, tls_ca_file=cert, token="t")) as agent:
        play(agent)
        assert agent.flush(10)
    with pytest.raises(RemoteError, match="cannot reach the server"):
        RemoteAgent(make_config(server.address, token="t", connect_timeout_s=1))  # plaintext


def test_tensorboard_log_per_client(make_server, make_config, tmp_path, play):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    server = make_server(logdir=tmp_path / "runs")
    config = make_config(server.address, client_id="tb/one",
                         params={"rollout_steps": 32, "minibatch_size": 16})
    with RemoteAgent(config) as agent:
        play(agent, 2)
        assert wait_for_model(agent, 1, timeout=30)
    server.close()
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("tb_one-")
    events = event_accumulator.EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"episode/return", "episode/length", "train/policy_loss", "train/value_loss",
            "train/approx_kl", "train/entropy", "train/steps_per_s", "train/version"} <= tags
    assert [e.value for e in events.Scalars("episode/length")] == [16.0, 16.0]


def test_server_logs_one_line_per_init_checkpoint_restore_and_shutdown(make_server, make_config,
                                                                      caplog):
    with caplog.at_level("INFO", logger="iroko_gym.remote"):
        first = make_server()
        with RemoteAgent(make_config(first.address)):
            pass
        with RemoteAgent(make_config(first.address)):
            pass
        first.close()
        make_server().close()
    lines = [r.getMessage() for r in caplog.records]

    def count(fragment: str) -> int:
        return sum(fragment in line for line in lines)

    assert count("Init 'c1': new PPO learner") == 1 and count("Init 'c1': joined") == 1
    assert count("learner 'c1': checkpoint version 1") == 2  # each server's final one
    assert count("restored learner 'c1' (PPO) at version 1") == 1
    assert count("shutting down 127.0.0.1:") == 2 and count("stopped 127.0.0.1:") == 2
