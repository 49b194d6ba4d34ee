"""The network and the server's capacity under hostile or careless use: a port in use,
batches over the message limit, connections that cannot be made, plaintext tokens, signals,
and clients that ask for more than the server has."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.limits import ServerLimits
from iroko_gym.remote.server import RemoteServer, ServerConfig
from iroko_gym.remote.stubs import pb2

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[3]


def test_a_second_server_on_a_port_in_use_is_refused(server):
    threads = threading.active_count()
    with pytest.raises(RemoteError, match=rf"cannot bind 127\.0\.0\.1:{server.port}: the port "
                                          "is in use"):
        RemoteServer(ServerConfig(host="127.0.0.1", port=server.port)).start()
    assert threading.active_count() <= threads  # the refused server left no thread


def end_episodes(agent, count: int, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        traj = None
        for t in range(steps):
            traj, action = agent.request_for_action(
                traj, rng.standard_normal(agent.config.observation_size))
            if t < steps - 1:
                agent.add_to_trajectory(traj, action)
        agent.mark_end_of_trajectory(traj, action)


@pytest.mark.parametrize("client_limit", [64 * 1024, None], ids=["same-limit", "server-lower"])
def test_batches_over_the_message_limit_are_split_and_a_trajectory_too_large_is_dropped(
        make_server, make_config, client_limit):
    server = make_server(max_message_bytes=64 * 1024)
    fields = {"max_message_bytes": client_limit} if client_limit else {}
    config = make_config(server.address, obs_size=64, batch_size=16,
                         params={"rollout_steps": 10**6}, **fields)
    with RemoteAgent(config) as agent:
        end_episodes(agent, 16, steps=40)  # ~11 KiB each: 16 are ~180 KiB, 3 messages' worth
        assert agent.flush(30)
        end_episodes(agent, 1, steps=400)  # ~110 KiB: can never fit in one message
        end_episodes(agent, 2, steps=40)
        assert agent.flush(30)
        stats = agent.stats()
    assert stats.trajectories_sent == 18 and stats.dropped_too_large == 1
    assert stats.buffered == stats.dropped_rejected == 0
    assert "message limit" in stats.last_error or "larger than max" in stats.last_error
    assert server.wait_idle(30)
    assert server.metrics().learners[0].trajectories_received == 18


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_says_so(make_config):
    config = make_config(f"127.0.0.1:{free_port()}", connect_timeout_s=0.5)
    with pytest.raises(RemoteError, match=r"cannot reach the server at 127\.0\.0\.1:\d+: "
                                          r"connection refused .*gave up after"):
        RemoteAgent(config)


def test_tls_failures_say_what_failed(make_server, make_config, certificate, other_certificate,
                                      tmp_path):
    plain = make_server()
    with pytest.raises(RemoteError, match="TLS handshake failed"):  # TLS client, plain server
        RemoteAgent(make_config(plain.address, tls_ca_file=certificate[0], connect_timeout_s=5))
    tls = make_server(tls_cert_file=certificate[0], tls_key_file=certificate[1])
    with pytest.raises(RemoteError, match="TLS handshake failed"):  # a CA that did not sign it
        RemoteAgent(make_config(tls.address, tls_ca_file=other_certificate[0],
                                connect_timeout_s=5))
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        RemoteAgent(make_config(tls.address, tls_ca_file=str(garbage)))
    with pytest.raises(ConfigError, match="tls CA .*No such file"):
        RemoteAgent(make_config(tls.address, tls_ca_file=str(tmp_path / "absent.pem")))
    with RemoteAgent(make_config(tls.address, tls_ca_file=certificate[0])) as agent:
        assert agent.version == 1  # the right CA works


def test_a_token_without_tls_beyond_loopback_is_warned_about(caplog):
    config = ServerConfig(host="192.0.2.1", port=0, token="t")  # TEST-NET: never ours
    with caplog.at_level("WARNING", logger="iroko_gym.remote.server"), \
            pytest.raises(RemoteError, match="cannot bind 192.0.2.1:0"):
        RemoteServer(config).start()
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "token authentication without TLS on 192.0.2.1" in warning.getMessage()


_BLOCKING_CLOSE = """
import sys, threading
from iroko_gym.remote import server
def stuck_close(self, grace=1.0):
    print("draining", file=sys.stderr, flush=True)
    threading.Event().wait()
server.RemoteServer.close = stuck_close
sys.exit(server.main(["--host", "127.0.0.1", "--port", "0"]))
"""


def test_a_second_signal_stops_a_draining_server_at_once():
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_CLOSE], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert "listening on" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        while "draining" not in (line := proc.stderr.readline()):
            assert line, "the server exited before draining"
        proc.send_signal(signal.SIGTERM)  # the drain would never end by itself
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "second SIGTERM while draining: stopping now" in err


def test_the_number_of_learners_is_bounded_and_idle_learners_cost_no_thread(make_server, wire,
                                                                            stub_for):
    server = make_server(limits=ServerLimits(max_learners=120), checkpoint_dir=None)
    stub = stub_for(server)
    stub.Init(wire.init_request(client_id="warm-up"), timeout=5)
    stub.Report(pb2.ReportRequest(client_id="warm-up", trajectories=[wire.trajectory()]),
                timeout=5)
    assert server.wait_idle(30)
    threads = threading.active_count()
    for i in range(119):
        stub.Init(wire.init_request(client_id=f"id-{i}"), timeout=5)
        stub.Report(pb2.ReportRequest(client_id=f"id-{i}", trajectories=[wire.trajectory()]),
                    timeout=5)
    assert server.wait_idle(30)
    # Only the two fixed pools may still be growing to their size; nothing per client id.
    assert threading.active_count() - threads <= (server.config.train_threads
                                                  + server.config.max_workers)
    wire.rejected(stub.Init, wire.init_request(client_id="one-too-many"),
                  grpc.StatusCode.RESOURCE_EXHAUSTED, "120 learners", "max_learners=120")
    assert len(server.dispatcher.learners()) == 120


def test_server_memory_is_bounded_across_learners(make_server, make_config):
    one = 2 * 10_000 * (2 * 4 * 4 + 8 + 2 * 4 + 2)  # replay ring and its checkpoint copy
    server = make_server(limits=ServerLimits(max_memory_bytes=int(one * 1.5)))
    params = {"buffer_size": 10_000, "hidden_sizes": [8]}
    with RemoteAgent(make_config(server.address, client_id="a", algorithm="DQN",
                                 params=params)):
        pass
    with pytest.raises(RemoteError, match=r"RESOURCE_EXHAUSTED.*does not fit.*max_memory_bytes"):
        RemoteAgent(make_config(server.address, client_id="b", algorithm="DQN", params=params))
    with RemoteAgent(make_config(server.address, client_id="a", algorithm="DQN",
                                 params=params)) as agent:  # joining is always possible
        assert agent.version == 1


def test_no_bad_request_disables_the_server(server, make_config, wire, stub_for):
    """After every kind of refusal above, a well-behaved client is served as usual."""
    stub = stub_for(server)
    for request in (wire.init_request(params={"seed": "abc"}),
                    wire.init_request(params_json="[" * 5000)):
        with pytest.raises(grpc.RpcError):
            stub.Init(request, timeout=5)
    with pytest.raises(grpc.RpcError):
        stub.Report(pb2.ReportRequest(client_id="ghost"), timeout=5)
    real_get = server.dispatcher.get

    def broken_get(client_id):  # an injected bug in a handler
        server.dispatcher.get = real_get
        raise RuntimeError("injected handler bug")

    server.dispatcher.get = broken_get
    wire.rejected(stub.GetModel, pb2.ModelRequest(client_id="x"), grpc.StatusCode.INTERNAL,
                  "GetModel failed", "injected handler bug")
    with RemoteAgent(make_config(server.address)) as agent:
        end_episodes(agent, 2, steps=8)
        assert agent.flush(10)
        assert agent.stats().trajectories_sent == 2
    assert re.fullmatch(r"127\.0\.0\.1:\d+", server.address)
