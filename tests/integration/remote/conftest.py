"""Loopback fixtures for the remote training service: servers on 127.0.0.1 port 0."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("grpc", reason="the remote service needs: pip install 'iroko_gym[remote]'")
torch = pytest.importorskip("torch", reason="the remote service needs: pip install 'iroko_gym[remote]'")

import grpc

from iroko_gym.remote.config import ActionSpec, ClientConfig, algorithm_params
from iroko_gym.remote.protocol import encode
from iroko_gym.remote.server import RemoteServer, ServerConfig
from iroko_gym.remote.stubs import pb2, pb2_grpc

torch.set_num_threads(1)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., RemoteServer]]:
    """Start servers (closed at teardown); checkpoints go to tmp_path/ckpt unless told."""
    servers: list[RemoteServer] = []

    def start(**overrides: Any) -> RemoteServer:
        options: dict[str, Any] = {"checkpoint_dir": tmp_path / "ckpt", "max_workers": 4}
        options.update(overrides)
        server = RemoteServer(ServerConfig(host="127.0.0.1", port=0, **options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close(grace=0.1)


@pytest.fixture
def stub_for() -> Iterator[Callable[[RemoteServer], Any]]:
    """Raw gRPC stubs: requests exactly as a hostile client would send them."""
    channels: list[grpc.Channel] = []

    def make(server: RemoteServer) -> Any:
        channels.append(grpc.insecure_channel(server.address))
        return pb2_grpc.RemoteTrainerStub(channels[-1])

    yield make
    for channel in channels:
        channel.close()


@pytest.fixture
def stub(server: RemoteServer, stub_for: Callable[[RemoteServer], Any]) -> Any:
    return stub_for(server)


def init_request(client_id: str = "raw", algorithm: str = "PPO", params: Any = None,
                 obs: int = 4, n: int | None = 2, box: tuple[list[float], list[float]] | None = None,
                 params_json: str | None = None) -> pb2.InitRequest:
    spec = pb2.Spec(observation_size=obs)
    if box is not None:
        spec.action.box.low.extend(box[0])
        spec.action.box.high.extend(box[1])
    elif n is not None:
        spec.action.discrete_n = n
    text = json.dumps({"hidden_sizes": [8]} if params is None else params) \
        if params_json is None else params_json
    return pb2.InitRequest(client_id=client_id, algorithm=algorithm, params_json=text, spec=spec)


def trajectory(steps: int = 3, obs: int = 4, version: int = 1,
               actions: np.ndarray | None = None) -> pb2.Trajectory:
    return pb2.Trajectory(
        version=version, observations=encode(np.zeros((steps, obs), np.float32)),
        actions=encode(np.zeros(steps, np.int64) if actions is None else actions),
        rewards=encode(np.ones(steps, np.float32)),
        log_probs=encode(np.full(steps, -0.7, np.float32)), terminated=True)


def rejected(call: Any, request: Any, code: grpc.StatusCode, *fragments: str) -> str:
    """Assert that ``call(request)`` fails with ``code`` naming every fragment; the details."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=5)
    assert info.value.code() == code, info.value.details()
    for fragment in fragments:
        assert fragment in info.value.details()
    return info.value.details()


@pytest.fixture
def wire() -> SimpleNamespace:
    """Builders of raw requests (see init_request, trajectory, rejected)."""
    return SimpleNamespace(init_request=init_request, trajectory=trajectory, rejected=rejected)


@pytest.fixture
def server(make_server: Callable[..., RemoteServer]) -> RemoteServer:
    return make_server()


def client_config(address: str, client_id: str = "c1", algorithm: str = "PPO",
                  obs_size: int = 4, action: ActionSpec | None = None,
                  params: dict[str, Any] | None = None, **fields: Any) -> ClientConfig:
    """A small client config; ``params`` are algorithm parameters as a plain dict."""
    base = {"hidden_sizes": (16, 16), "seed": 0}
    base.update(params or {})
    options: dict[str, Any] = {"batch_size": 4, "flush_interval_s": 0.05, "seed": 0,
                               "connect_timeout_s": 10.0}
    options.update(fields)
    return ClientConfig(client_id=client_id, observation_size=obs_size,
                        action=action or ActionSpec(n=2), algorithm=algorithm,
                        params=algorithm_params(algorithm, base), server_address=address,
                        **options)


@pytest.fixture
def make_config() -> Callable[..., ClientConfig]:
    return client_config


def play_episodes(agent: Any, episodes: int = 1, steps: int = 16, seed: int = 0) -> None:
    """Fixed-length synthetic episodes on random observations: reward 1 for action 0."""
    rng = np.random.default_rng(seed)
    size = agent.config.observation_size
    for _ in range(episodes):
        traj = None
        for t in range(steps):
            traj, action = agent.request_for_action(traj, rng.standard_normal(size))
            action.update_reward(1.0 if np.all(action.act == 0) else 0.0)
            if t == steps - 1:
                agent.mark_end_of_trajectory(traj, action)
            else:
                agent.add_to_trajectory(traj, action)


@pytest.fixture
def play() -> Callable[..., None]:
    return play_episodes


class TcpProxy:
    """A loopback TCP forwarder whose backend can be switched and whose connections can be
    cut, so that a client sees a server go away and come back at the same address."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.backend: int | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            backend = self.backend
            try:
                if backend is None:
                    raise OSError("no backend")
                upstream = socket.create_connection(("127.0.0.1", backend))
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._sockets += [downstream, upstream]
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every open connection (the backend is unreachable until set again)."""
        self.backend = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy()
    yield p
    p.close()


def make_certificate(directory: Path, name: str = "server") -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: ``(cert.pem, key.pem)`` paths."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    return make_certificate(tmp_path)


@pytest.fixture
def other_certificate(tmp_path: Path) -> tuple[str, str]:
    """A second, unrelated self-signed certificate (a CA that signed nothing of ours)."""
    return make_certificate(tmp_path, "other")
