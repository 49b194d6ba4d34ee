"""The central dispatcher: client id -> learner, created by Init and restored from checkpoints.

Several client processes may share one client id; they then feed one learner, provided they
agree on the algorithm, its parameters and the spaces (else Init is refused). Learners do
their work on one shared pool of training threads, and new ones are admitted only within the
server's :class:`~iroko_gym.remote.limits.ServerLimits`.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from iroko_gym.errors import ConfigError
from iroko_gym.remote.checkpoints import remove_stale_temp_files
from iroko_gym.remote.config import ActionSpec, algorithm_params
from iroko_gym.remote.learner import Learner, LearnerOptions, LearnerSpec
from iroko_gym.remote.limits import ServerLimits, check_learner, check_room
from iroko_gym.remote.protocol import MalformedMessage, UnknownClient
from iroko_gym.remote.stubs import pb2
from iroko_gym.validate import check_int

log = logging.getLogger(__name__)

MAX_CLIENT_ID = 256           # characters
MAX_PARAMS_JSON = 64 * 1024   # bytes


def spec_from_init(request: pb2.InitRequest) -> LearnerSpec:
    """Validate an Init request into a learner spec (ConfigError / MalformedMessage), every
    bad field named."""
    client_id = request.client_id
    if not client_id.strip() or len(client_id) > MAX_CLIENT_ID:
        raise MalformedMessage(f"client_id={client_id[:80]!r}: give each system a stable, "
                               f"non-empty id of at most {MAX_CLIENT_ID} characters")
    if len(request.params_json) > MAX_PARAMS_JSON:
        raise MalformedMessage(f"params_json is {len(request.params_json)} bytes; at most "
                               f"{MAX_PARAMS_JSON} are accepted")
    try:
        raw = json.loads(request.params_json) if request.params_json else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else f"not JSON: {exc}"
        raise MalformedMessage(f"params_json is {what}") from exc
    params = algorithm_params(request.algorithm, raw)
    size = check_int("spec.observation_size", request.spec.observation_size, 1,
                     error=MalformedMessage)
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
    return LearnerSpec(client_id, request.algorithm, params, size, action)


class Dispatcher:
    """Thread-safe registry of learners and owner of their training pool."""

    def __init__(self, options: LearnerOptions, limits: ServerLimits | None = None,
                 train_threads: int = 2) -> None:
        self.options = options
        self.limits = limits or ServerLimits()
        self._pool = ThreadPoolExecutor(max_workers=train_threads,
                                        thread_name_prefix="remote-learner")
        self._learners: dict[str, Learner] = {}
        self._bytes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _budget(self, spec: LearnerSpec) -> int:
        return check_learner(self.limits, spec.params, spec.observation_size, spec.action,
                             self.options.keep_versions)

    def restore(self, directory: Path) -> list[str]:
        """Recreate every learner checkpointed in ``directory`` (after removing the temporary
        files of interrupted saves); returns their client ids."""
        remove_stale_temp_files(directory)
        restored = []
        for path in sorted(directory.glob("*.pt")):
            spec, state = Learner.load(path)
            learner = Learner(spec, self.options, self._pool, state)
            with self._lock:
                self._learners[spec.client_id] = learner
                self._bytes[spec.client_id] = self._budget(spec)
            c = learner.counters
            log.info("restored learner %r (%s) at version %d from %s: %d trajectories "
                     "received, %d trained, %d stale, %d lost at the crash", spec.client_id,
                     spec.algorithm, learner.version, path, c["trajectories_received"],
                     c["trajectories_trained"], c["stale_dropped"], c["lost_at_crash"])
            restored.append(spec.client_id)
        return restored

    def init(self, spec: LearnerSpec) -> tuple[Learner, bool]:
        """The learner for ``spec.client_id``, created if new; (learner, created)."""
        with self._lock:
            if self._closed:
                raise ConfigError("the server is shutting down")
            learner = self._learners.get(spec.client_id)
            if learner is None:
                size = self._budget(spec)
                check_room(self.limits, len(self._learners), sum(self._bytes.values()), size)
                learner = Learner(spec, self.options, self._pool)
                self._learners[spec.client_id] = learner
                self._bytes[spec.client_id] = size
                log.info("Init %r: new %s learner, observation_size=%d, action=%s, up to "
                         "%.1f MiB", spec.client_id, spec.algorithm, spec.observation_size,
                         f"Discrete({spec.action.n})" if spec.action.discrete
                         else f"Box({spec.action.size})", size / 2**20)
                return learner, True
        differences = learner.spec.differences(spec)
        if differences:
            raise ConfigError(
                f"client_id {spec.client_id!r} already has a learner with a different setup "
                f"({'; '.join(differences)}); use another client_id or the same config")
        log.info("Init %r: joined its learner at version %d", spec.client_id, learner.version)
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
        """Close every learner (each drains and checkpoints), then the pool; idempotent."""
        with self._lock:
            self._closed = True
            learners = list(self._learners.values())
        for learner in learners:
            learner.close()
        self._pool.shutdown(wait=True)
