"""One learner per client id: its algorithm, training queue, version history, checkpoints
and TensorBoard log.

The gRPC handlers only validate and enqueue (:meth:`Learner.submit`). The learner's work —
ingest, drop stale on-policy data (counted), train, publish immutable snapshots — runs on a
thread of the server's shared training pool whenever its queue holds something, so that idle
client ids cost no thread. A training round whose loss or weights come out non-finite is
rolled back (previous weights and optimiser state), counted and logged; a trajectory whose
ingestion fails is counted and logged; a checkpoint that cannot be written is counted, logged
and retried at the next version. Nothing a client sends can stop the learner.

Counters add up: ``trajectories_received = trajectories_trained + stale_dropped +
queued_trajectories + failed + lost_at_crash``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from iroko_gym.errors import RemoteError
from iroko_gym.remote.checkpoints import (checkpoint_path, file_stem, load_checkpoint,
                                          save_checkpoint)
from iroko_gym.remote.config import ActionSpec, AlgorithmConfig, algorithm_params, params_json
from iroko_gym.remote.snapshots import VersionHistory
from iroko_gym.remote.stubs import pb2
from iroko_gym.remote.trajectory import TrajectoryData

log = logging.getLogger(__name__)


class Algorithm(Protocol):
    """What the learner needs from PPO and DQN."""

    def accepts(self, version: int, current: int) -> bool: ...
    def ingest(self, traj: TrajectoryData) -> None: ...
    def ready(self) -> bool: ...
    def train(self) -> tuple[dict[str, float], bool]: ...
    def trainable(self) -> list[Any]: ...  # networks and optimisers a round may change
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
    max_queue_bytes: int = 16 * 1024**2       # ... or past this many queued array bytes
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 10                # versions between checkpoints (and on close)
    logdir: Path | None = None


_COUNTERS = ("trajectories_received", "steps_received", "trajectories_trained", "steps_trained",
             "stale_dropped", "updates", "episodes", "rolled_back", "failed",
             "checkpoint_failures", "lost_at_crash", "stale_dropped_steps")


def _nbytes(traj: TrajectoryData) -> int:
    return sum(a.nbytes for a in (traj.observations, traj.actions, traj.rewards, traj.log_probs,
                                  traj.masks, traj.next_observation) if a is not None)


def _tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor inside a (nested) state dict."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _non_finite(metrics: dict[str, float], trainable: list[Any]) -> str:
    """What is non-finite after a training round ('' when all is well)."""
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        return f"non-finite {', '.join(bad)}"
    for obj in trainable:
        for tensor in _tensors(obj.state_dict()):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return f"non-finite values in the {type(obj).__name__}"
    return ""


class Learner:
    """Owns one algorithm instance; its work runs on the shared ``pool``."""

    def __init__(self, spec: LearnerSpec, options: LearnerOptions, pool: Executor,
                 checkpoint: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.options = options
        self._pool = pool
        self.algorithm = make_algorithm(spec.algorithm, spec.params, spec.observation_size,
                                        spec.action)
        self.history = VersionHistory(options.keep_versions)
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.last: dict[str, float] = {}
        self.last_error = ""
        self._returns: deque[float] = deque(maxlen=100)
        version = 1
        if checkpoint is not None:
            self.algorithm.load_state_dict(checkpoint["algorithm"])
            self.counters.update(checkpoint["counters"])
            c = self.counters
            # Received but neither consumed nor in the checkpoint: gone with the old process.
            c["lost_at_crash"] = (c["trajectories_received"] - c["trajectories_trained"]
                                  - c["stale_dropped"] - c["failed"])
            version = int(checkpoint["version"])
        self.history.publish(self.algorithm.policy_tensors(), self.algorithm.scalars(), version)
        self._queue: deque[TrajectoryData] = deque()
        self._queued_trajectories = 0
        self._queued_steps = 0
        self._queued_bytes = 0
        self._cond = threading.Condition()  # guards the queue and every counter
        self._closed = False
        self._scheduled = False
        self._save_due = False
        self._writer = self._open_writer()
        self._rate_mark = (time.monotonic(), self.counters["steps_trained"])
        self._steps_per_s = 0.0

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
        size = sum(_nbytes(t) for t in trajectories)
        with self._cond:
            if self._closed:
                raise RemoteError(f"learner {self.spec.client_id!r} is closed")
            if self._queue and (self._queued_steps + steps > self.options.max_queue_steps
                                or self._queued_bytes + size > self.options.max_queue_bytes):
                return False
            self._queue.extend(trajectories)
            self._queued_trajectories += len(trajectories)
            self._queued_steps += steps
            self._queued_bytes += size
            self.counters["trajectories_received"] += len(trajectories)
            self.counters["steps_received"] += steps
            if not self._scheduled:
                self._scheduled = True
                self._pool.submit(self._drain)
        return True

    def _drain(self) -> None:
        """Consume the queue until it is empty (one pool thread at a time per learner)."""
        while True:
            with self._cond:
                if not self._queue:
                    self._scheduled = False
                    self._cond.notify_all()
                    return
                traj = self._queue.popleft()
            try:
                outcome = self._consume(traj)
            except Exception as exc:  # a bug, or a value that got past validation
                log.exception("learner %r: ingesting a trajectory failed", self.spec.client_id)
                outcome = "failed"
                self.last_error = f"ingest: {exc!r}"
            with self._cond:  # one step, so that the trajectory counters always add up
                self._queued_trajectories -= 1
                self.counters[outcome] += 1
                if outcome == "trajectories_trained":
                    self.counters["steps_trained"] += len(traj)
                    self.counters["episodes"] += int(traj.terminated)
                elif outcome == "stale_dropped":
                    self.counters["stale_dropped_steps"] += len(traj)
            if outcome == "stale_dropped":
                self._log({"train/stale_dropped": float(self.counters["stale_dropped"])})
            if outcome == "trajectories_trained" and self.algorithm.ready():
                self._train()
            with self._cond:  # queued steps include the training round they led to
                self._queued_steps -= len(traj)
                self._queued_bytes -= _nbytes(traj)

    def _consume(self, traj: TrajectoryData) -> str:
        if not self.algorithm.accepts(traj.version, self.version):
            return "stale_dropped"
        self.algorithm.ingest(traj)
        ret = float(traj.rewards.sum(dtype=np.float64))
        self._returns.append(ret)
        self._log({"episode/return": ret, "episode/length": float(len(traj))})
        return "trajectories_trained"

    def _train(self) -> None:
        trainable = self.algorithm.trainable()
        before = [copy.deepcopy(obj.state_dict()) for obj in trainable]
        try:
            metrics, publish = self.algorithm.train()
            problem = _non_finite(metrics, trainable)
        except Exception as exc:
            log.exception("learner %r: a training round failed", self.spec.client_id)
            metrics, publish, problem = {}, False, f"training raised {exc!r}"
        if problem:
            for obj, state in zip(trainable, before):
                obj.load_state_dict(state)
            with self._cond:
                self.counters["rolled_back"] += 1
            self.last_error = f"rolled back a training round: {problem}"
            log.warning("learner %r: %s; kept the previous weights (version %d)",
                        self.spec.client_id, self.last_error, self.version)
            return
        with self._cond:
            self.counters["updates"] += 1
            steps = self.counters["steps_trained"]
            metrics["stale_dropped"] = float(self.counters["stale_dropped"])
            metrics["stale_dropped_steps"] = float(self.counters["stale_dropped_steps"])
            metrics["queued_steps"] = float(self._queued_steps)
        now = time.monotonic()
        mark_time, mark_steps = self._rate_mark
        metrics["steps_per_s"] = (steps - mark_steps) / max(now - mark_time, 1e-9)
        self._rate_mark = (now, steps)
        self._steps_per_s = metrics["steps_per_s"]
        if self._returns:
            metrics["mean_return"] = float(np.mean(self._returns))
        self.last = metrics
        if publish:
            snap = self.history.publish(self.algorithm.policy_tensors(), self.algorithm.scalars())
            metrics["version"] = float(snap.version)
            if snap.version % self.options.checkpoint_every == 0 or self._save_due:
                self.save()
        self._log({f"train/{k}": v for k, v in metrics.items()})

    def _log(self, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        step = self.counters["steps_trained"]
        for key, value in values.items():
            self._writer.add_scalar(key, value, step)

    def save(self) -> Path | None:
        """Checkpoint weights, optimiser, counters and version atomically; None without a
        checkpoint dir or when the write failed (logged, counted, retried at the next
        version and at close)."""
        if self.options.checkpoint_dir is None:
            return None
        path = checkpoint_path(self.options.checkpoint_dir, self.spec.client_id)
        with self._cond:
            counters = dict(self.counters)
        state = {"client_id": self.spec.client_id, "spec": self.spec.describe(),
                 "version": self.version, "counters": counters,
                 "algorithm": self.algorithm.state_dict()}
        try:
            save_checkpoint(path, state)
        except Exception as exc:  # ENOSPC, EIO, a read-only disk ...: keep serving
            with self._cond:
                self.counters["checkpoint_failures"] += 1
            self._save_due = True
            self.last_error = f"checkpoint {path}: {exc}"
            log.error("learner %r: cannot write checkpoint %s: %s; will retry at the next "
                      "version", self.spec.client_id, path, exc)
            return None
        self._save_due = False
        log.info("learner %r: checkpoint version %d to %s", self.spec.client_id,
                 state["version"], path)
        return path

    @staticmethod
    def load(path: Path) -> tuple[LearnerSpec, dict[str, Any]]:
        state = load_checkpoint(path)
        try:
            return LearnerSpec.parse(state["client_id"], state["spec"]), state
        except Exception as exc:
            raise RemoteError(f"checkpoint {path} does not describe a learner: {exc!r}; move "
                              "it away to start this learner afresh") from exc

    def wait_idle(self, timeout: float) -> bool:
        """Block until the queue is drained; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._scheduled:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def progress(self) -> pb2.LearnerProgress:
        """The counters a client sees in each report reply (its ``ClientStats.learner_*``)."""
        with self._cond:
            c = self.counters
            return pb2.LearnerProgress(
                steps_trained=c["steps_trained"], stale_dropped=c["stale_dropped"],
                stale_dropped_steps=c["stale_dropped_steps"], queued_steps=self._queued_steps,
                steps_per_s=self._steps_per_s)

    def metrics(self) -> pb2.LearnerMetrics:
        with self._cond:
            counters = dict(self.counters)
            queued, queued_trajectories = self._queued_steps, self._queued_trajectories
        return pb2.LearnerMetrics(client_id=self.spec.client_id, algorithm=self.spec.algorithm,
                                  version=self.version, queued=queued,
                                  queued_trajectories=queued_trajectories, last=self.last,
                                  last_error=self.last_error, **counters)

    def close(self) -> None:
        """Drain the queue, checkpoint and close the log; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._scheduled:
                self._cond.wait()
        self.save()
        if self._writer is not None:
            self._writer.close()
