"""The central dispatcher: client id -> learner, created by Init and restored from checkpoints.

Several client processes may share one client id; they then feed one learner, provided they
agree on the algorithm, its parameters and the spaces (else Init is refused).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import ActionSpec, algorithm_params
from iroko_gym.remote.learner import Learner, LearnerOptions, LearnerSpec
from iroko_gym.remote.protocol import MalformedMessage, UnknownClient
from iroko_gym.remote.stubs import pb2


def spec_from_init(request: pb2.InitRequest) -> LearnerSpec:
    """Validate an Init request into a learner spec (ConfigError / MalformedMessage)."""
    client_id = request.client_id
    if not client_id.strip():
        raise MalformedMessage("client_id is empty; give each system a stable, non-empty id")
    try:
        raw = json.loads(request.params_json) if request.params_json else {}
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"params_json is not JSON: {exc}") from exc
    params = algorithm_params(request.algorithm, raw)
    size = request.spec.observation_size
    if size < 1:
        raise MalformedMessage(f"spec.observation_size={size}: must be >= 1")
    kind = request.spec.action.WhichOneof("kind")
    if kind == "discrete_n":
        action = ActionSpec(n=int(request.spec.action.discrete_n))
    elif kind == "box":
        box = request.spec.action.box
        action = ActionSpec(low=tuple(box.low), high=tuple(box.high))
    else:
        raise MalformedMessage("spec.action is unset; give discrete_n or box")
    if request.algorithm == "DQN" and not action.discrete:
        raise ConfigError(f"algorithm DQN with a box action of size {action.size}: "
                          "DQN needs discrete actions; use PPO for continuous ones")
    return LearnerSpec(client_id, request.algorithm, params, int(size), action)


class Dispatcher:
    """Thread-safe registry of learners."""

    def __init__(self, options: LearnerOptions) -> None:
        self.options = options
        self._learners: dict[str, Learner] = {}
        self._lock = threading.Lock()
        self._closed = False

    def restore(self, directory: Path) -> list[str]:
        """Recreate every learner checkpointed in ``directory``; returns their client ids."""
        restored = []
        for path in sorted(directory.glob("*.pt")):
            spec, state = Learner.load_checkpoint(path)
            with self._lock:
                self._learners[spec.client_id] = Learner(spec, self.options, state)
            restored.append(spec.client_id)
        return restored

    def init(self, spec: LearnerSpec) -> tuple[Learner, bool]:
        """The learner for ``spec.client_id``, created if new; (learner, created)."""
        with self._lock:
            if self._closed:
                raise ConfigError("the server is shutting down")
            learner = self._learners.get(spec.client_id)
            if learner is None:
                learner = Learner(spec, self.options)
                self._learners[spec.client_id] = learner
                return learner, True
        differences = learner.spec.differences(spec)
        if differences:
            raise ConfigError(
                f"client_id {spec.client_id!r} already has a learner with a different setup "
                f"({'; '.join(differences)}); use another client_id or the same config")
        return learner, False

    def get(self, client_id: str) -> Learner:
        with self._lock:
            learner = self._learners.get(client_id)
        if learner is None:
            raise UnknownClient(f"unknown client_id {client_id!r}: call Init first "
                                "(RemoteAgent does this on construction)")
        return learner

    def learners(self) -> list[Learner]:
        with self._lock:
            return list(self._learners.values())

    def close(self) -> None:
        """Close every learner (each drains and checkpoints); idempotent."""
        with self._lock:
            self._closed = True
            learners = list(self._learners.values())
        for learner in learners:
            learner.close()
