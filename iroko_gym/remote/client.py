"""The client library a real system calls at each decision point (RL4Sys-style names).

Actions come from a local copy of the current model (:mod:`iroko_gym.remote.policy`), so
acting never waits on the network. Finished trajectories go into a bounded buffer that a
background thread uploads in batches; each reply may carry a newer model (diff or full), which
takes effect from the next trajectory on. While the server is away the agent keeps acting,
retries with exponential backoff and counts whatever it has to drop.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.remote.config import ClientConfig, load_client_config, params_json
from iroko_gym.remote.policy import LocalPolicy
from iroko_gym.remote.protocol import TrajectoryData, encode_trajectory
from iroko_gym.remote.security import channel_credentials, token_metadata
from iroko_gym.remote.snapshots import Snapshot, apply_update
from iroko_gym.remote.stubs import pb2, pb2_grpc

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
_RPC_TIMEOUT_S = 10.0


class Action:
    """One decision: ``act`` is what the system applies; set the reward it earned."""

    __slots__ = ("act", "logp", "mask", "obs", "raw", "reward", "version")

    def __init__(self, obs: np.ndarray, act: Any, raw: Any, logp: float,
                 mask: np.ndarray | None, version: int) -> None:
        self.obs, self.act, self.raw, self.logp = obs, act, raw, logp
        self.mask, self.version, self.reward = mask, version, 0.0

    def update_reward(self, reward: float) -> None:
        self.reward = float(reward)


class Trajectory:
    """Actions collected with one model version; ended by ``mark_end_of_trajectory``."""

    __slots__ = ("actions", "ended", "policy")

    def __init__(self, policy: LocalPolicy) -> None:
        self.policy = policy
        self.actions: list[Action] = []
        self.ended = False

    @property
    def version(self) -> int:
        return self.policy.version

    def __len__(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class ClientStats:
    """What happened to everything this agent produced (nothing is dropped silently)."""

    actions: int
    trajectories_ended: int
    trajectories_sent: int
    steps_sent: int
    buffered: int
    dropped_overflow: int       # oldest unsent trajectories dropped when the buffer was full
    dropped_rejected: int       # refused by the server as malformed (INVALID_ARGUMENT)
    dropped_at_close: int       # still unsent when close() gave up
    send_failures: int          # failed upload attempts (retried)
    model_updates: int
    full_models: int
    version: int
    last_error: str


def _to_data(traj: Trajectory, terminated: bool, next_obs: np.ndarray | None) -> TrajectoryData:
    acts = traj.actions
    masks = None
    if any(a.mask is not None for a in acts):
        n = next(a.mask for a in acts if a.mask is not None).shape[0]
        masks = np.stack([a.mask if a.mask is not None else np.ones(n, bool) for a in acts])
    raw = [a.raw for a in acts]
    return TrajectoryData(
        version=traj.version, observations=np.stack([a.obs for a in acts]),
        actions=np.asarray(raw, np.int64) if isinstance(raw[0], int) else np.stack(raw),
        rewards=np.fromiter((a.reward for a in acts), np.float32, len(acts)),
        log_probs=np.fromiter((a.logp for a in acts), np.float32, len(acts)),
        masks=masks, terminated=terminated, next_observation=next_obs)


class RemoteAgent:
    """``agent = RemoteAgent("client.yaml")``; act, report rewards, end trajectories, close."""

    def __init__(self, conf: str | Path | ClientConfig | Mapping[str, Any]) -> None:
        if isinstance(conf, ClientConfig):
            self.config = conf
        elif isinstance(conf, Mapping):
            self.config = ClientConfig.from_mapping(conf)
        else:
            self.config = load_client_config(conf)
        cfg = self.config
        self._rng = np.random.default_rng(cfg.seed)
        options = [("grpc.max_receive_message_length", 256 * 1024 * 1024),
                   ("grpc.max_send_message_length", 256 * 1024 * 1024)]
        self._channel = (grpc.secure_channel(cfg.server_address,
                                             channel_credentials(cfg.tls_ca_file), options)
                         if cfg.tls_ca_file else
                         grpc.insecure_channel(cfg.server_address, options))
        self._stub = pb2_grpc.RemoteTrainerStub(self._channel)
        self._metadata = token_metadata(cfg.token)
        self._model_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._policy: LocalPolicy | None = None
        self._pending: deque[tuple[TrajectoryData, float]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._flushing = 0
        self._stop = threading.Event()  # set when close() gives up on flushing
        self._counts = dict.fromkeys(
            ("actions", "trajectories_ended", "trajectories_sent", "steps_sent",
             "dropped_overflow", "dropped_rejected", "dropped_at_close", "send_failures",
             "model_updates", "full_models"), 0)
        self._last_error = ""
        try:
            self._init(timeout=cfg.connect_timeout_s)
        except BaseException:
            self._channel.close()
            raise
        self._thread = threading.Thread(target=self._upload_loop, daemon=True,
                                        name=f"remote-agent-{cfg.client_id}")
        self._thread.start()

    # -- the decision-point API -------------------------------------------------------------

    def request_for_action(self, traj: Trajectory | None, obs: Any,
                           mask: Any = None) -> tuple[Trajectory, Action]:
        """An action for ``obs`` (allowed actions where ``mask`` is true); starts a new
        trajectory, on the newest local model, when ``traj`` is None or has ended."""
        if traj is None or traj.ended:
            policy = self._policy
            assert policy is not None  # set by _init before the constructor returns
            traj = Trajectory(policy)
        obs = np.asarray(obs, dtype=np.float32).reshape(-1)
        if obs.shape[0] != self.config.observation_size:
            raise ConfigError(f"observation has {obs.shape[0]} values; the client config says "
                              f"observation_size={self.config.observation_size}")
        if mask is not None:
            mask = np.asarray(mask, dtype=bool).reshape(-1)
            if mask.shape[0] != self.config.action.size or not self.config.action.discrete:
                raise ConfigError(f"mask of length {mask.shape[0]} for action {self.config.action}"
                                  ": masks need a discrete action and one entry per action")
            if not mask.any():
                raise ConfigError("mask allows no action; allow at least one")
        act, raw, logp = traj.policy.act(obs, mask)
        self._counts["actions"] += 1
        return traj, Action(obs, act, raw, logp, mask, traj.policy.version)

    def add_to_trajectory(self, traj: Trajectory, action: Action) -> None:
        """Record ``action`` (with its reward) as the next step of ``traj``."""
        if traj.ended:
            raise RemoteError("this trajectory has ended; pass it to request_for_action to "
                              "start a new one")
        traj.actions.append(action)

    def mark_end_of_trajectory(self, traj: Trajectory, action: Action, *,
                               truncated: bool = False, next_obs: Any = None) -> None:
        """End ``traj`` with ``action`` (added if not yet) and queue it for upload.
        ``truncated=True`` when the episode was cut short rather than finished; pass
        ``next_obs`` then so that learners can bootstrap from it."""
        if traj.ended:
            raise RemoteError("mark_end_of_trajectory called twice on one trajectory")
        if not traj.actions or traj.actions[-1] is not action:
            traj.actions.append(action)
        traj.ended = True
        following = None
        if next_obs is not None:
            following = np.asarray(next_obs, dtype=np.float32).reshape(-1)
            if following.shape[0] != self.config.observation_size:
                raise ConfigError(f"next_obs has {following.shape[0]} values; expected "
                                  f"{self.config.observation_size}")
        data = _to_data(traj, not truncated, following)
        with self._cond:
            if self._closing:
                raise RemoteError("the agent is closed")
            self._counts["trajectories_ended"] += 1
            if len(self._pending) >= self.config.max_buffered_trajectories:
                self._pending.popleft()
                self._counts["dropped_overflow"] += 1
            self._pending.append((data, time.monotonic()))
            if len(self._pending) >= self.config.batch_size:
                self._cond.notify()

    # -- model ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Version of the local model that new trajectories use."""
        policy = self._policy
        return 0 if policy is None else policy.version

    @property
    def snapshot(self) -> Snapshot:
        """The local model's weights (read-only)."""
        assert self._snapshot is not None
        return self._snapshot

    def refresh_model(self) -> int:
        """Fetch the newest model now (normally the uploader does this); returns its version."""
        reply = self._call(self._stub.GetModel, pb2.ModelRequest(
            client_id=self.config.client_id, have_version=self.version))
        self._apply(reply)
        return self.version

    def wait_for_model(self, newer_than: int, timeout: float = 60.0,
                       poll_s: float = 0.01) -> bool:
        """Flush, then wait until a model newer than ``newer_than`` is local; False on
        timeout. For simulators that outrun an on-policy learner; real systems just act."""
        deadline = time.monotonic() + timeout
        if not self.flush(timeout):
            return False
        while self.version <= newer_than:
            if time.monotonic() >= deadline:
                return False
            try:
                self.refresh_model()
            except RemoteError as exc:
                self._last_error = str(exc)
            if self.version <= newer_than:
                time.sleep(poll_s)
        return True

    def server_metrics(self) -> pb2.LearnerMetrics:
        """The server's counters for this client id (received, stale, version, losses)."""
        reply = self._call(self._stub.Metrics, pb2.MetricsRequest(client_id=self.config.client_id))
        return reply.learners[0]

    def wait_for_learner(self, timeout: float = 60.0, poll_s: float = 0.01) -> bool:
        """Flush, then wait until the learner has consumed everything; False on timeout.
        Lets a simulator run in lock step with an off-policy learner."""
        deadline = time.monotonic() + timeout
        if not self.flush(timeout):
            return False
        while self.server_metrics().queued > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def _init(self, timeout: float) -> None:
        cfg = self.config
        spec = pb2.Spec(observation_size=cfg.observation_size)
        if cfg.action.discrete:
            spec.action.discrete_n = cfg.action.size
        else:
            spec.action.box.low.extend(cfg.action.low)
            spec.action.box.high.extend(cfg.action.high)
        request = pb2.InitRequest(client_id=cfg.client_id, algorithm=cfg.algorithm,
                                  params_json=params_json(cfg.params), spec=spec)
        reply = self._call(self._stub.Init, request, timeout=timeout, wait_for_ready=True)
        self._apply(reply.model)

    def _call(self, method: Any, request: Any, timeout: float = _RPC_TIMEOUT_S,
              wait_for_ready: bool = False) -> Any:
        try:
            return method(request, timeout=timeout, metadata=self._metadata,
                          wait_for_ready=wait_for_ready)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise ConfigError(f"server refused: {exc.details()}") from exc
            raise RemoteError(f"{code.name} from {self.config.server_address}: "
                              f"{exc.details()}") from exc

    def _apply(self, update: pb2.ModelUpdate) -> None:
        with self._model_lock:
            current = self._snapshot
            if current is not None and update.version == current.version and not update.full:
                return
            if not update.full and (current is None or update.base_version != current.version):
                update = self._call(self._stub.GetModel, pb2.ModelRequest(
                    client_id=self.config.client_id, have_version=0))
            snapshot = apply_update(current, update)
            self._snapshot = snapshot
            self._policy = LocalPolicy(snapshot, self.config.algorithm,
                                       self.config.params.activation, self.config.action,
                                       self._rng)
            self._counts["model_updates"] += 1
            self._counts["full_models"] += int(update.full)

    # -- upload ---------------------------------------------------------------------------

    def _next_batch(self) -> list[TrajectoryData] | None:
        """Wait for a full batch, the flush interval, or close; None when done."""
        cfg = self.config
        with self._cond:
            while True:
                if self._pending:
                    age = time.monotonic() - self._pending[0][1]
                    if (len(self._pending) >= cfg.batch_size or self._closing
                            or self._flushing or age >= cfg.flush_interval_s):
                        count = min(len(self._pending), cfg.batch_size)
                        return [self._pending[i][0] for i in range(count)]
                    self._cond.wait(cfg.flush_interval_s - age)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _upload_loop(self) -> None:
        backoff = self.config.backoff_initial_s
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            error = self._send(batch)
            if error is None:
                backoff = self.config.backoff_initial_s
                continue
            with self._cond:
                self._counts["send_failures"] += 1
                self._last_error = error
            if self._stop.wait(backoff * (0.5 + random.random())):
                return
            backoff = min(backoff * 2, self.config.backoff_max_s)

    def _send(self, batch: list[TrajectoryData]) -> str | None:
        """Upload ``batch``; None on success (or definitive rejection), else the error."""
        request = pb2.ReportRequest(client_id=self.config.client_id, have_version=self.version,
                                    trajectories=[encode_trajectory(t) for t in batch])
        try:
            reply = self._stub.Report(request, timeout=_RPC_TIMEOUT_S, metadata=self._metadata)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:  # server restarted without this learner
                try:
                    self._init(timeout=_RPC_TIMEOUT_S)
                except (RemoteError, ConfigError) as init_exc:
                    return str(init_exc)
                return f"NOT_FOUND: {exc.details()} (re-initialised)"
            if code in _RETRYABLE:
                return f"{code.name}: {exc.details()}"
            self._settle(batch, rejected=True, error=f"{code.name}: {exc.details()}")
            return None
        self._settle(batch, rejected=False, error="")
        if reply.HasField("model"):
            try:
                self._apply(reply.model)
            except (RemoteError, ConfigError) as exc:
                self._last_error = str(exc)
        return None

    def _settle(self, batch: list[TrajectoryData], rejected: bool, error: str) -> None:
        """Remove ``batch`` (still at the front of the buffer unless overflow ate it)."""
        sent = {id(t) for t in batch}
        with self._cond:
            removed = 0
            while self._pending and id(self._pending[0][0]) in sent:
                self._pending.popleft()
                removed += 1
            if rejected:
                self._counts["dropped_rejected"] += removed
                self._last_error = error
            else:
                self._counts["trajectories_sent"] += removed
                self._counts["steps_sent"] += sum(len(t) for t in batch[:removed])
            self._cond.notify_all()

    # -- lifecycle ------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        with self._cond:
            return ClientStats(buffered=len(self._pending), version=self.version,
                               last_error=self._last_error, **self._counts)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every ended trajectory is uploaded; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1  # partial batches go out now, not after flush_interval_s
            self._cond.notify_all()
            try:
                while self._pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush (up to ``timeout``), stop the uploader and close the channel; idempotent.
        Trajectories still unsent then are counted in ``stats().dropped_at_close``."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self._stop.set()
        with self._cond:
            self._counts["dropped_at_close"] += len(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join()
        self._channel.close()

    def __enter__(self) -> RemoteAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RemoteAgent(client_id={self.config.client_id!r}, "
                f"server={self.config.server_address!r}, version={self.version})")


def describe_stats(stats: ClientStats) -> str:
    """One JSON line, for logs and example scripts."""
    return json.dumps(stats.__dict__, sort_keys=True)
