"""One learner per client id: its algorithm, training queue and thread, version history,
checkpoints and TensorBoard log.

The gRPC handlers only validate and enqueue (:meth:`Learner.submit`); the learner thread
ingests, drops stale on-policy data (counted), trains and publishes immutable snapshots.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from iroko_gym.atomic import atomic_write
from iroko_gym.errors import RemoteError
from iroko_gym.remote.config import ActionSpec, AlgorithmConfig, algorithm_params, params_json
from iroko_gym.remote.snapshots import VersionHistory
from iroko_gym.remote.stubs import pb2
from iroko_gym.remote.trajectory import TrajectoryData


class Algorithm(Protocol):
    """What the learner needs from PPO and DQN."""

    def accepts(self, version: int, current: int) -> bool: ...
    def ingest(self, traj: TrajectoryData) -> None: ...
    def ready(self) -> bool: ...
    def train(self) -> tuple[dict[str, float], bool]: ...
    def policy_tensors(self) -> dict[str, np.ndarray]: ...
    def scalars(self) -> dict[str, float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_algorithm(name: str, params: AlgorithmConfig, obs_size: int,
                   action: ActionSpec) -> Algorithm:
    if name == "PPO":
        from iroko_gym.remote.ppo import PPO

        return PPO(params, obs_size, action)  # type: ignore[arg-type]
    from iroko_gym.remote.dqn import DQN

    return DQN(params, obs_size, action)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LearnerSpec:
    """What defines a learner; clients sharing a client id must agree on all of it."""

    client_id: str
    algorithm: str
    params: AlgorithmConfig
    observation_size: int
    action: ActionSpec

    def fields(self) -> dict[str, Any]:
        """Flat view, e.g. ``{"algorithm": "PPO", "params.gamma": 0.99, "action.n": 2}``."""
        flat: dict[str, Any] = {"algorithm": self.algorithm,
                                "observation_size": self.observation_size}
        flat.update({f"params.{k}": v for k, v in json.loads(params_json(self.params)).items()})
        flat.update({f"action.{k}": list(v) if isinstance(v, tuple) else v
                     for k, v in asdict(self.action).items()})
        return flat

    def describe(self) -> str:
        return json.dumps({"algorithm": self.algorithm, "params": json.loads(params_json(self.params)),
                           "observation_size": self.observation_size,
                           "action": asdict(self.action)}, sort_keys=True)

    def differences(self, other: LearnerSpec) -> list[str]:
        """``["params.seed: 0 here, 2 requested", ...]`` for every field that differs."""
        mine, theirs = self.fields(), other.fields()
        return [f"{k}: {mine.get(k)!r} here, {theirs.get(k)!r} requested"
                for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]

    @classmethod
    def parse(cls, client_id: str, text: str) -> LearnerSpec:
        data = json.loads(text)
        action = data["action"]
        return cls(client_id, data["algorithm"], algorithm_params(data["algorithm"], data["params"]),
                   int(data["observation_size"]),
                   ActionSpec(action["n"], tuple(action["low"]), tuple(action["high"])))


@dataclass(frozen=True)
class LearnerOptions:
    """Server-wide settings every learner follows."""

    keep_versions: int = 8
    max_queue_steps: int = 1_000_000          # Report answers RESOURCE_EXHAUSTED past this
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 10                # versions between checkpoints (and on close)
    logdir: Path | None = None


def file_stem(client_id: str) -> str:
    """``<readable id>-<hash>``: safe as a file name; the hash keeps distinct ids distinct."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)[:64]
    return f"{readable}-{hashlib.sha1(client_id.encode()).hexdigest()[:10]}"


_COUNTERS = ("trajectories_received", "steps_received", "trajectories_trained", "steps_trained",
             "stale_dropped", "updates", "episodes")


class Learner:
    """Owns one algorithm instance and the thread that trains it."""

    def __init__(self, spec: LearnerSpec, options: LearnerOptions,
                 checkpoint: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.options = options
        self.algorithm = make_algorithm(spec.algorithm, spec.params, spec.observation_size,
                                        spec.action)
        self.history = VersionHistory(options.keep_versions)
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.last: dict[str, float] = {}
        self._returns: deque[float] = deque(maxlen=100)
        version = 1
        if checkpoint is not None:
            self.algorithm.load_state_dict(checkpoint["algorithm"])
            self.counters.update(checkpoint["counters"])
            version = int(checkpoint["version"])
        self.history.publish(self.algorithm.policy_tensors(), self.algorithm.scalars(), version)
        self._queue: deque[list[TrajectoryData]] = deque()
        self._queued_steps = 0
        self._cond = threading.Condition()
        self._closed = False
        self._consuming = False
        self._error: BaseException | None = None
        self._writer = self._open_writer()
        self._rate_mark = (time.monotonic(), self.counters["steps_trained"])
        self._thread = threading.Thread(target=self._run, name=f"learner-{spec.client_id}",
                                        daemon=True)
        self._thread.start()

    def _open_writer(self) -> Any:
        if self.options.logdir is None:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.options.logdir / file_stem(self.spec.client_id)))

    @property
    def version(self) -> int:
        return self.history.latest.version

    def submit(self, trajectories: list[TrajectoryData]) -> bool:
        """Queue validated trajectories; False when the queue is full (retry later)."""
        steps = sum(len(t) for t in trajectories)
        with self._cond:
            if self._error is not None:
                raise RemoteError(f"learner {self.spec.client_id!r} failed: {self._error!r}")
            if self._closed:
                raise RemoteError(f"learner {self.spec.client_id!r} is closed")
            if self._queued_steps and self._queued_steps + steps > self.options.max_queue_steps:
                return False
            self._queue.append(trajectories)
            self._queued_steps += steps
            self.counters["trajectories_received"] += len(trajectories)
            self.counters["steps_received"] += steps
            self._cond.notify()
        return True

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if not self._queue:
                        return
                    batch = self._queue.popleft()
                    self._consuming = True
                try:
                    self._consume(batch)
                finally:
                    with self._cond:
                        self._consuming = False
                        self._queued_steps -= sum(len(t) for t in batch)
        except BaseException as exc:
            with self._cond:
                self._error = exc
            raise

    def _consume(self, batch: list[TrajectoryData]) -> None:
        for traj in batch:
            if not self.algorithm.accepts(traj.version, self.version):
                self.counters["stale_dropped"] += 1
                continue
            self.algorithm.ingest(traj)
            self.counters["steps_trained"] += len(traj)
            self.counters["trajectories_trained"] += 1
            self.counters["episodes"] += int(traj.terminated)
            ret = float(traj.rewards.sum(dtype=np.float64))
            self._returns.append(ret)
            self._log({"episode/return": ret, "episode/length": float(len(traj))})
            if self.algorithm.ready():
                self._train()

    def _train(self) -> None:
        metrics, publish = self.algorithm.train()
        self.counters["updates"] += 1
        now = time.monotonic()
        mark_time, mark_steps = self._rate_mark
        steps = self.counters["steps_trained"]
        metrics["steps_per_s"] = (steps - mark_steps) / max(now - mark_time, 1e-9)
        self._rate_mark = (now, steps)
        if self._returns:
            metrics["mean_return"] = float(np.mean(self._returns))
        self.last = metrics
        if publish:
            snap = self.history.publish(self.algorithm.policy_tensors(), self.algorithm.scalars())
            metrics["version"] = float(snap.version)
            every = self.options.checkpoint_every
            if self.options.checkpoint_dir is not None and snap.version % every == 0:
                self.save()
        self._log({f"train/{k}": v for k, v in metrics.items()})

    def _log(self, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        step = self.counters["steps_trained"]
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)

    def save(self) -> Path | None:
        """Write weights, optimiser, counters and version atomically; None without a dir."""
        if self.options.checkpoint_dir is None:
            return None
        directory = self.options.checkpoint_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{file_stem(self.spec.client_id)}.pt"
        state = {"client_id": self.spec.client_id, "spec": self.spec.describe(),
                 "version": self.version, "counters": dict(self.counters),
                 "algorithm": self.algorithm.state_dict()}
        return atomic_write(path, lambda tmp: torch.save(state, tmp))

    @staticmethod
    def load_checkpoint(path: Path) -> tuple[LearnerSpec, dict[str, Any]]:
        try:
            state = torch.load(path, weights_only=True)
            return LearnerSpec.parse(state["client_id"], state["spec"]), state
        except Exception as exc:
            raise RemoteError(f"cannot load checkpoint {path}: {exc}; move it away to start "
                              "this learner afresh") from exc

    def wait_idle(self, timeout: float) -> bool:
        """Block until the queue is drained (tests and benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._queue and not self._consuming:
                    return True
            time.sleep(0.005)
        return False

    def metrics(self) -> pb2.LearnerMetrics:
        with self._cond:
            queued = self._queued_steps
        return pb2.LearnerMetrics(client_id=self.spec.client_id, algorithm=self.spec.algorithm,
                                  version=self.version, queued=queued, last=self.last,
                                  **self.counters)

    def close(self) -> None:
        """Drain the queue, stop the thread, checkpoint and close the log; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is None:
            self.save()
        if self._writer is not None:
            self._writer.close()
