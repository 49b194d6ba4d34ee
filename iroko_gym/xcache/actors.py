"""Actors: what the sidecar asks for a keep value (1 = keep, 0 = evict first) for each access.

``RemoteActor`` is the remote training service's client (:class:`~iroko_gym.remote.client.
RemoteAgent`): it answers from its local model copy and turns the sidecar's rewards into
trajectories that train the learner online.  ``PolicyActor`` wraps a local deterministic
callable (a ``Cache-v0`` agent), which is what the offline/live agreement is tested with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from iroko_gym.errors import ActionError

log = logging.getLogger(__name__)

OBS_SIZE = 8  # the Cache-v0 observation: six tokens, size kB, fill %
# what the network sees: tokens as they are, the size in GB, the fill as a fraction
NETWORK_SCALE = np.array([1, 1, 1, 1, 1, 1, 1 / 1024**2, 1 / 100], dtype=np.float32)


class Actor(Protocol):
    def keep(self, obs: np.ndarray) -> tuple[int, int]:
        """``(keep value 0/1, model version)`` for the access described by ``obs``."""

    def feedback(self, reward: float, next_obs: np.ndarray) -> None:
        """The reward of the last answer, known once the next access ``next_obs`` is seen."""

    def close(self) -> None: ...


def _keep_value(act: Any) -> int:
    value = int(np.asarray(act).reshape(-1)[0])
    if value not in (0, 1):
        raise ActionError(f"the actor answered {act!r}; a keep value is 0 or 1")
    return value


class PolicyActor:
    """A local callable ``obs -> 0/1``; version -1 (no model)."""

    def __init__(self, policy: Callable[[np.ndarray], Any]) -> None:
        self.policy = policy

    def keep(self, obs: np.ndarray) -> tuple[int, int]:
        return _keep_value(self.policy(obs)), -1

    def feedback(self, reward: float, next_obs: np.ndarray) -> None:
        return None

    def close(self) -> None:
        return None


class RemoteActor:
    """Answers from a :class:`RemoteAgent`; every ``segment_steps`` answers make one trajectory.

    The trajectory is cut there (truncated, with the next observation to bootstrap from).  The
    network sees the observation times :data:`NETWORK_SCALE` (sizes in GB, fill as a fraction).  At
    ``close()`` the unfinished trajectory is ended at its last rewarded answer and flushed; the
    one answer still waiting for its reward is not uploaded.
    """

    def __init__(self, agent: Any, segment_steps: int = 64) -> None:
        self.agent = agent
        self.segment_steps = segment_steps
        self._traj: Any = None
        self._pending: Any = None

    def keep(self, obs: np.ndarray) -> tuple[int, int]:
        self._traj, self._pending = self.agent.request_for_action(self._traj, obs * NETWORK_SCALE)
        return _keep_value(self._pending.act), int(self._pending.version)

    def feedback(self, reward: float, next_obs: np.ndarray) -> None:
        action, traj = self._pending, self._traj
        if action is None:
            return
        action.update_reward(reward)
        self._pending = None
        if len(traj) + 1 >= self.segment_steps:
            self.agent.mark_end_of_trajectory(traj, action, truncated=True,
                                              next_obs=next_obs * NETWORK_SCALE)
            self._traj = None
        else:
            self.agent.add_to_trajectory(traj, action)

    def close(self) -> None:
        traj, pending = self._traj, self._pending
        self._traj = self._pending = None
        try:
            if traj is not None and not traj.ended and len(traj) > 0:
                last = traj.actions[-1]
                following = pending.obs if pending is not None else last.obs
                self.agent.mark_end_of_trajectory(traj, last, truncated=True, next_obs=following)
        finally:
            self.agent.close()
            stats = self.agent.stats()
            log.info("remote actor closed: %d actions, %d trajectories sent, %d dropped",
                     stats.actions, stats.trajectories_sent,
                     stats.dropped_overflow + stats.dropped_rejected + stats.dropped_at_close)
