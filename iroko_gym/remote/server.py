"""The learning server: gRPC front end, one learner per client id, checkpoints, TensorBoard.

Start it with ``python -m iroko_gym.remote.server --port 50051 [--logdir runs/
--checkpoint-dir ckpt/]`` or embed :class:`RemoteServer` (a context manager). Every request is
answered with a status that names what was wrong; none can stop a learner or the server.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import torch

from iroko_gym.errors import ConfigError, IrokoError, RemoteError
from iroko_gym.remote.channel import server_options
from iroko_gym.remote.config import MAX_MESSAGE_BYTES
from iroko_gym.remote.dispatcher import Dispatcher, spec_from_init
from iroko_gym.remote.learner import Learner, LearnerOptions
from iroko_gym.remote.limits import ServerFull, ServerLimits
from iroko_gym.remote.protocol import MalformedMessage, UnknownClient, decode_trajectory
from iroko_gym.remote.security import TokenInterceptor, plaintext_token_warning, server_credentials
from iroko_gym.remote.stubs import pb2, pb2_grpc
from iroko_gym.validate import check_int

log = logging.getLogger(__name__)


class Backpressure(RemoteError):
    """The learner's queue is full; the client keeps the batch and retries."""


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
    train_threads: int = 2                  # shared by every learner (not one per client id)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    limits: ServerLimits = field(default_factory=ServerLimits)

    def __post_init__(self) -> None:
        check_int("port", self.port, 0, 65535)
        for name in ("max_workers", "checkpoint_every", "keep_versions", "max_queue_steps",
                     "torch_threads", "train_threads"):
            check_int(name, getattr(self, name), 1)
        check_int("max_message_bytes", self.max_message_bytes, 4096, 2**31 - 1)
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("tls_cert_file and tls_key_file go together; give both or neither")


_R = TypeVar("_R")


def _rpc(method: Callable[..., _R]) -> Callable[..., _R]:
    """Translate our errors into gRPC status codes with the message; count rejections."""

    @functools.wraps(method)
    def wrapper(self: _Servicer, request: Any, context: grpc.ServicerContext) -> _R:
        try:
            return method(self, request, context)
        except Backpressure as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))  # not a rejection
        except UnknownClient as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except (MalformedMessage, ConfigError) as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except ServerFull as exc:
            code, message = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
        except IrokoError as exc:
            code, message = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        except Exception as exc:  # a bug: answer, log, keep serving
            log.exception("%s failed", method.__name__)
            code, message = grpc.StatusCode.INTERNAL, f"{method.__name__} failed: {exc!r}"
        with self.lock:
            self.rejected += 1
        log.debug("%s rejected: %s %s", method.__name__, code.name, message)
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
            raise Backpressure(f"learner {spec.client_id!r} queue is full; retry later")
        reply = pb2.ReportReply(accepted=len(trajectories), latest_version=learner.version,
                                learner=learner.progress())
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
        cfg = self.config
        self.dispatcher = Dispatcher(LearnerOptions(
            keep_versions=cfg.keep_versions, max_queue_steps=cfg.max_queue_steps,
            max_queue_bytes=cfg.limits.max_queue_bytes, checkpoint_dir=cfg.checkpoint_dir,
            checkpoint_every=cfg.checkpoint_every, logdir=cfg.logdir), cfg.limits,
            cfg.train_threads)
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
        cfg = self.config
        torch.set_num_threads(cfg.torch_threads)
        tls = bool(cfg.tls_cert_file and cfg.tls_key_file)
        warning = plaintext_token_warning(cfg.host, cfg.token, tls)
        if warning:
            log.warning(warning)
        try:
            if cfg.checkpoint_dir is not None and cfg.checkpoint_dir.is_dir():
                self.restored = self.dispatcher.restore(cfg.checkpoint_dir)
            self._server, self.port = self._bind(tls)
        except BaseException:
            self.dispatcher.close()
            raise
        log.info("serving on %s (%s%s), %d learner(s) restored", self.address,
                 "TLS" if tls else "plaintext", ", token" if cfg.token else "",
                 len(self.restored))
        return self

    def _bind(self, tls: bool) -> tuple[grpc.Server, int]:
        cfg = self.config
        interceptors = [TokenInterceptor(cfg.token)] if cfg.token else []
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=cfg.max_workers,
                                                        thread_name_prefix="remote-rpc"),
                             interceptors=interceptors,
                             options=server_options(cfg.max_message_bytes))
        pb2_grpc.add_RemoteTrainerServicer_to_server(self._servicer, server)
        target = f"{cfg.host}:{cfg.port}"
        try:
            if tls:
                assert cfg.tls_cert_file and cfg.tls_key_file
                port = server.add_secure_port(target, server_credentials(
                    cfg.tls_cert_file, cfg.tls_key_file))
            else:
                port = server.add_insecure_port(target)
        except RuntimeError as exc:  # grpcio >= 1.60 raises where older ones returned 0
            port = 0
            cause: BaseException | None = exc
        else:
            cause = None
        if port == 0:
            server.stop(None)
            raise RemoteError(f"cannot bind {target}: the port is in use (another server?) or "
                              "the address is not one of this machine's; choose another "
                              "--port (0 picks a free one) or --host") from cause
        server.start()
        return server, port

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
        learners = len(self.dispatcher.learners())
        log.info("shutting down %s: draining and checkpointing %d learner(s)", self.address,
                 learners)
        if self._server is not None:
            self._server.stop(grace).wait()
        self.dispatcher.close()
        log.info("stopped %s", self.address)

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
    parser.add_argument("--train-threads", type=int, default=2,
                        help="training threads shared by all learners")
    parser.add_argument("--max-learners", type=int, default=ServerLimits.max_learners,
                        help="client ids with a learner")
    parser.add_argument("--max-model-parameters", type=int,
                        default=ServerLimits.max_model_parameters, help="per learner")
    parser.add_argument("--max-learner-mib", type=int,
                        default=ServerLimits.max_learner_bytes // 2**20,
                        help="memory per learner: model, replay buffer, rollout")
    parser.add_argument("--max-memory-mib", type=int,
                        default=ServerLimits.max_memory_bytes // 2**20,
                        help="memory of all learners together")
    parser.add_argument("--max-queue-mib", type=int, default=ServerLimits.max_queue_bytes // 2**20,
                        help="queued trajectories per learner")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limits = ServerLimits(max_learners=args.max_learners,
                          max_model_parameters=args.max_model_parameters,
                          max_learner_bytes=args.max_learner_mib * 2**20,
                          max_memory_bytes=args.max_memory_mib * 2**20,
                          max_queue_bytes=args.max_queue_mib * 2**20)
    return ServerConfig(host=args.host, port=args.port, max_workers=args.workers,
                        logdir=args.logdir, checkpoint_dir=args.checkpoint_dir,
                        checkpoint_every=args.checkpoint_every, keep_versions=args.keep_versions,
                        max_queue_steps=args.max_queue_steps,
                        token=os.environ.get(args.token_env) or None,
                        tls_cert_file=args.tls_cert, tls_key_file=args.tls_key,
                        torch_threads=args.torch_threads, train_threads=args.train_threads,
                        limits=limits)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: serve until SIGINT/SIGTERM, then drain and checkpoint; a second
    signal while draining stops at once (the checkpoints are those already written)."""
    try:
        config = _parse(argv)
        server = RemoteServer(config).start()
    except IrokoError as exc:
        print(f"iroko-remote-server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if not stop.is_set():
            stop.set()
            return
        log.warning("second %s while draining: stopping now, without the final checkpoints",
                    signal.Signals(signum).name)
        logging.shutdown()
        os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    restored = f", restored {len(server.restored)} learner(s)" if server.restored else ""
    print(f"iroko-remote-server listening on {server.address}{restored}", flush=True)
    while not stop.wait(1.0):  # a timed wait, so that the handler runs promptly
        pass
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
