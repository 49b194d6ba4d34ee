"""The learning server: gRPC front end, one learner per client id, checkpoints, TensorBoard.

Start it with ``python -m iroko_gym.remote.server --port 50051 [--logdir runs/
--checkpoint-dir ckpt/]`` or embed :class:`RemoteServer` (a context manager).
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import torch

from iroko_gym.errors import ConfigError, IrokoError, RemoteError
from iroko_gym.remote.dispatcher import Dispatcher, spec_from_init
from iroko_gym.remote.learner import Learner, LearnerOptions
from iroko_gym.remote.protocol import MalformedMessage, UnknownClient, decode_trajectory
from iroko_gym.remote.security import TokenInterceptor, server_credentials
from iroko_gym.remote.stubs import pb2, pb2_grpc

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one server process."""

    host: str = "127.0.0.1"
    port: int = 0                           # 0: pick a free port (see RemoteServer.port)
    max_workers: int = 8                    # gRPC handler threads
    logdir: Path | None = None              # TensorBoard logs, one subdirectory per client id
    checkpoint_dir: Path | None = None      # restored on start, written every few versions
    checkpoint_every: int = 10
    keep_versions: int = 8                  # clients further behind get the full model
    max_queue_steps: int = 1_000_000        # per learner; beyond: RESOURCE_EXHAUSTED, retry
    token: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    torch_threads: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port={self.port}: must be in [0, 65535]")
        for name in ("max_workers", "checkpoint_every", "keep_versions", "max_queue_steps",
                     "torch_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be >= 1")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("tls_cert_file and tls_key_file go together; give both or neither")


_R = TypeVar("_R")


def _rpc(method: Callable[..., _R]) -> Callable[..., _R]:
    """Translate our errors into gRPC status codes with the message; count rejections."""

    @functools.wraps(method)
    def wrapper(self: _Servicer, request: Any, context: grpc.ServicerContext) -> _R:
        try:
            return method(self, request, context)
        except UnknownClient as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except (MalformedMessage, ConfigError) as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except IrokoError as exc:
            code, message = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        with self.lock:
            self.rejected += 1
        context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")

    return wrapper


class _Servicer(pb2_grpc.RemoteTrainerServicer):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.rejected = 0
        self.lock = threading.Lock()

    @_rpc
    def Init(self, request: pb2.InitRequest, context: grpc.ServicerContext) -> pb2.InitReply:
        learner, created = self.dispatcher.init(spec_from_init(request))
        model = learner.history.update_for(0)
        assert model is not None  # versions start at 1
        return pb2.InitReply(model=model, created=created)

    @_rpc
    def Report(self, request: pb2.ReportRequest,
               context: grpc.ServicerContext) -> pb2.ReportReply:
        learner = self.dispatcher.get(request.client_id)
        spec = learner.spec
        trajectories = [decode_trajectory(t, spec.observation_size, spec.action,
                                          f"trajectories[{i}]")
                        for i, t in enumerate(request.trajectories)]
        if trajectories and not learner.submit(trajectories):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"learner {spec.client_id!r} queue is full; retry later")
        reply = pb2.ReportReply(accepted=len(trajectories), latest_version=learner.version)
        update = learner.history.update_for(request.have_version)
        if update is not None:
            reply.model.CopyFrom(update)
        return reply

    @_rpc
    def GetModel(self, request: pb2.ModelRequest,
                 context: grpc.ServicerContext) -> pb2.ModelUpdate:
        learner = self.dispatcher.get(request.client_id)
        update = learner.history.update_for(request.have_version)
        if update is None:
            return pb2.ModelUpdate(version=request.have_version, base_version=request.have_version)
        return update

    @_rpc
    def Metrics(self, request: pb2.MetricsRequest,
                context: grpc.ServicerContext) -> pb2.MetricsReply:
        return self.metrics(request.client_id)

    def metrics(self, client_id: str = "") -> pb2.MetricsReply:
        learners = [self.dispatcher.get(client_id)] if client_id else self.dispatcher.learners()
        with self.lock:
            rejected = self.rejected
        return pb2.MetricsReply(learners=[l.metrics() for l in learners],
                                rejected_requests=rejected)


class RemoteServer:
    """A running learning server; ``with RemoteServer(ServerConfig()) as server: server.port``."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.dispatcher = Dispatcher(LearnerOptions(
            keep_versions=self.config.keep_versions, max_queue_steps=self.config.max_queue_steps,
            checkpoint_dir=self.config.checkpoint_dir,
            checkpoint_every=self.config.checkpoint_every, logdir=self.config.logdir))
        self._servicer = _Servicer(self.dispatcher)
        self._server: grpc.Server | None = None
        self._closed = False
        self.port = 0
        self.restored: list[str] = []

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.port}"

    def start(self) -> RemoteServer:
        """Restore checkpointed learners, bind and start serving; returns self."""
        if self._server is not None:
            return self
        torch.set_num_threads(self.config.torch_threads)
        if self.config.checkpoint_dir is not None and self.config.checkpoint_dir.is_dir():
            self.restored = self.dispatcher.restore(self.config.checkpoint_dir)
        interceptors = [TokenInterceptor(self.config.token)] if self.config.token else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.config.max_workers,
                                                        thread_name_prefix="remote-rpc"),
                             interceptors=interceptors, options=_OPTIONS)
        pb2_grpc.add_RemoteTrainerServicer_to_server(self._servicer, server)
        target = f"{self.config.host}:{self.config.port}"
        if self.config.tls_cert_file and self.config.tls_key_file:
            port = server.add_secure_port(target, server_credentials(
                self.config.tls_cert_file, self.config.tls_key_file))
        else:
            port = server.add_insecure_port(target)
        if port == 0:
            self.dispatcher.close()
            raise RemoteError(f"cannot bind {target}: the port is in use or the host unknown")
        server.start()
        self._server, self.port = server, port
        return self

    def learner(self, client_id: str) -> Learner:
        return self.dispatcher.get(client_id)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every learner has consumed its queue."""
        return all(l.wait_idle(timeout) for l in self.dispatcher.learners())

    def metrics(self) -> pb2.MetricsReply:
        return self._servicer.metrics()

    def wait(self) -> None:
        if self._server is not None:
            self._server.wait_for_termination()

    def close(self, grace: float = 1.0) -> None:
        """Stop serving, drain and checkpoint every learner; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.stop(grace).wait()
        self.dispatcher.close()

    def __enter__(self) -> RemoteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(argv: Sequence[str] | None) -> ServerConfig:
    parser = argparse.ArgumentParser(prog="iroko-remote-server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    parser.add_argument("--logdir", type=Path, help="TensorBoard log directory")
    parser.add_argument("--checkpoint-dir", type=Path, help="resume from and save learners here")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="versions per checkpoint")
    parser.add_argument("--keep-versions", type=int, default=8, help="snapshots kept for diffs")
    parser.add_argument("--max-queue-steps", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=8, help="gRPC handler threads")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--token-env", default="IROKO_REMOTE_TOKEN",
                        help="environment variable holding the shared token (unset: no auth)")
    parser.add_argument("--tls-cert", help="PEM certificate chain (enables TLS with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key")
    args = parser.parse_args(argv)
    return ServerConfig(host=args.host, port=args.port, max_workers=args.workers,
                        logdir=args.logdir, checkpoint_dir=args.checkpoint_dir,
                        checkpoint_every=args.checkpoint_every, keep_versions=args.keep_versions,
                        max_queue_steps=args.max_queue_steps,
                        token=os.environ.get(args.token_env) or None,
                        tls_cert_file=args.tls_cert, tls_key_file=args.tls_key,
                        torch_threads=args.torch_threads)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: serve until SIGINT/SIGTERM, then drain and checkpoint."""
    try:
        config = _parse(argv)
        server = RemoteServer(config).start()
    except IrokoError as exc:
        print(f"iroko-remote-server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    restored = f", restored {len(server.restored)} learner(s)" if server.restored else ""
    print(f"iroko-remote-server listening on {server.address}{restored}", flush=True)
    stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
