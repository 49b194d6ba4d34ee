"""The client library a real system calls at each decision point (RL4Sys-style names).

Actions come from a local copy of the current model (:mod:`iroko_gym.remote.policy`), so
acting never waits on the network. Finished trajectories go to the
:class:`~iroko_gym.remote.uploader.Uploader`, whose thread sends them in batches over the
:class:`~iroko_gym.remote.channel.Channel`; each reply may carry a newer model (diff or full),
which takes effect from the next trajectory on. While the server is away the agent keeps
acting, retries with exponential backoff and counts whatever it has to drop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.remote.channel import Channel
from iroko_gym.remote.config import ClientConfig, load_client_config, params_json
from iroko_gym.remote.policy import LocalPolicy
from iroko_gym.remote.protocol import MAX_MAGNITUDE, MalformedMessage, check_values
from iroko_gym.remote.snapshots import ModelSnapshot, apply_update
from iroko_gym.remote.stubs import pb2
from iroko_gym.remote.trajectory import TrajectoryData
from iroko_gym.remote.uploader import ClientStats, Uploader
from iroko_gym.validate import check_real

__all__ = ["Action", "ClientStats", "RemoteAgent", "Trajectory"]


class Action:
    """One decision: ``act`` is what the system applies; set the reward it earned."""

    __slots__ = ("act", "logp", "mask", "obs", "raw", "reward", "version")

    def __init__(self, obs: np.ndarray, act: Any, raw: Any, logp: float,
                 mask: np.ndarray | None, version: int) -> None:
        self.obs, self.act, self.raw, self.logp = obs, act, raw, logp
        self.mask, self.version, self.reward = mask, version, 0.0

    def update_reward(self, reward: float) -> None:
        """Set the reward (finite, within ±1e9: MalformedMessage otherwise)."""
        self.reward = check_real("reward", reward, -MAX_MAGNITUDE, MAX_MAGNITUDE,
                                 error=MalformedMessage)


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
        self._model_lock = threading.Lock()
        self._snapshot: ModelSnapshot | None = None
        self._policy: LocalPolicy | None = None
        self._channel = Channel(cfg)
        self._uploader = Uploader(cfg, self._channel, lambda: self.version, self._apply,
                                  self._init)
        try:
            self._init(timeout=cfg.connect_timeout_s)
        except BaseException:
            self._channel.close()
            raise
        self._uploader.start()

    # -- the decision-point API -------------------------------------------------------------

    def request_for_action(self, traj: Trajectory | None, obs: Any,
                           mask: Any = None) -> tuple[Trajectory, Action]:
        """An action for ``obs`` (allowed actions where ``mask`` is true); starts a new
        trajectory, on the newest local model, when ``traj`` is None or has ended.
        A non-finite or huge observation is refused here (MalformedMessage, a ValueError)."""
        if traj is None or traj.ended:
            policy = self._policy
            assert policy is not None  # set by _init before the constructor returns
            traj = Trajectory(policy)
        obs = self._observation(obs, "observation")
        if mask is not None:
            mask = np.asarray(mask, dtype=bool).reshape(-1)
            if mask.shape[0] != self.config.action.size or not self.config.action.discrete:
                raise ConfigError(f"mask of length {mask.shape[0]} for action {self.config.action}"
                                  ": masks need a discrete action and one entry per action")
            if not mask.any():
                raise ConfigError("mask allows no action; allow at least one")
        act, raw, logp = traj.policy.act(obs, mask)
        self._uploader.count(actions=1)
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
        following = None if next_obs is None else self._observation(next_obs, "next_obs")
        if not traj.actions or traj.actions[-1] is not action:
            traj.actions.append(action)
        traj.ended = True
        self._uploader.put(_to_data(traj, not truncated, following))

    def _observation(self, value: Any, name: str) -> np.ndarray:
        obs = np.asarray(value, dtype=np.float32).reshape(-1)
        if obs.shape[0] != self.config.observation_size:
            raise ConfigError(f"{name} has {obs.shape[0]} values; the client config says "
                              f"observation_size={self.config.observation_size}")
        check_values(name, obs)
        return obs

    # -- model ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Version of the local model that new trajectories use."""
        policy = self._policy
        return 0 if policy is None else policy.version

    @property
    def snapshot(self) -> ModelSnapshot:
        """The local model's weights (read-only)."""
        assert self._snapshot is not None
        return self._snapshot

    def refresh_model(self) -> int:
        """Fetch the newest model now (normally the uploader does this); returns its version."""
        reply = self._channel.call("GetModel", pb2.ModelRequest(
            client_id=self.config.client_id, have_version=self.version))
        self._apply(reply)
        return self.version

    def server_metrics(self) -> pb2.LearnerMetrics:
        """The server's counters for this client id (received, stale, version, losses)."""
        reply = self._channel.call("Metrics",
                                   pb2.MetricsRequest(client_id=self.config.client_id))
        return reply.learners[0]

    def _init(self, timeout: float | None = None) -> None:
        cfg = self.config
        spec = pb2.Spec(observation_size=cfg.observation_size)
        if cfg.action.discrete:
            spec.action.discrete_n = cfg.action.size
        else:
            spec.action.box.low.extend(cfg.action.low)
            spec.action.box.high.extend(cfg.action.high)
        request = pb2.InitRequest(client_id=cfg.client_id, algorithm=cfg.algorithm,
                                  params_json=params_json(cfg.params), spec=spec)
        reply = self._channel.connect(request, cfg.connect_timeout_s if timeout is None
                                      else timeout)
        self._apply(reply.model)

    def _apply(self, update: pb2.ModelUpdate) -> None:
        with self._model_lock:
            current = self._snapshot
            if current is not None and update.version == current.version and not update.full:
                return
            if not update.full and (current is None or update.base_version != current.version):
                update = self._channel.call("GetModel", pb2.ModelRequest(
                    client_id=self.config.client_id, have_version=0))
            snapshot = apply_update(current, update)
            self._snapshot = snapshot
            self._policy = LocalPolicy(snapshot, self.config.algorithm,
                                       self.config.params.activation, self.config.action,
                                       self._rng)
            self._uploader.count(model_updates=1, full_models=int(update.full))

    # -- lifecycle ------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        return self._uploader.stats(self.version)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every ended trajectory is uploaded; False on timeout."""
        return self._uploader.flush(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush (up to ``timeout``), stop the uploader and close the channel; idempotent.
        Trajectories still unsent then are counted in ``stats().dropped_at_close``."""
        self._uploader.close(timeout)
        self._channel.close()

    def __enter__(self) -> RemoteAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RemoteAgent(client_id={self.config.client_id!r}, "
                f"server={self.config.server_address!r}, version={self.version})")
