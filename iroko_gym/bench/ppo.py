"""PPO for the benchmark suite: rollouts on the env, updates by the remote service's learner.

The algorithm (GAE, clipped objective, minibatch epochs, value loss, gradient clipping) is
:class:`iroko_gym.remote.ppo.PPO`, the learner the training service runs, so the project has
one PPO.  This module collects the rollouts, saves and loads models, and evaluates them.  The
policy is a Gaussian over unbounded ``u``; the env receives ``low + (high - low) * sigmoid(u)``
(the squash is treated as part of the environment, so log-probabilities are those of ``u``).
Evaluation uses the mean action.  Training runs on the real emulated network, in real time.
The hyperparameters are a :class:`iroko_gym.remote.config.PPOConfig` (the suite's defaults are
:data:`iroko_gym.bench.config.PPO_DEFAULTS`).  Training and evaluation run torch on one thread:
the emulated network's collectors and traffic need the other cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from iroko_gym.atomic import atomic_write
from iroko_gym.bench.config import PPO_DEFAULTS
from iroko_gym.errors import ConfigError
from iroko_gym.remote import config as learner_config
from iroko_gym.remote.networks import ActorCritic
from iroko_gym.remote.ppo import PPO
from iroko_gym.remote.trajectory import TrajectoryData


def _one_thread() -> None:
    torch.set_num_threads(1)


def _action_spec(low: np.ndarray, high: np.ndarray) -> learner_config.ActionSpec:
    return learner_config.ActionSpec(low=tuple(map(float, low)), high=tuple(map(float, high)))


def squash(u: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map an unbounded policy output into the action box."""
    return (low + (high - low) / (1.0 + np.exp(-u))).astype(np.float32)


class PPOPolicy:
    """Deterministic evaluation policy: the squashed mean action."""

    def __init__(self, model: ActorCritic, low: np.ndarray, high: np.ndarray) -> None:
        self.model, self.low, self.high = model.eval(), low, high

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean = self.model.distribution(torch.as_tensor(obs, dtype=torch.float32)[None]).mean[0].numpy()
        return squash(mean, self.low, self.high)


def save_model(model: ActorCritic, path: Path, low: np.ndarray, high: np.ndarray) -> Path:
    sizes = [layer.out_features for layer in model.actor]
    payload = {"state_dict": model.state_dict(), "obs_dim": model.actor[0].in_features, "act_dim": sizes[-1],
               "hidden": sizes[:-1], "low": low.tolist(), "high": high.tolist()}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_policy(path: str | Path, obs_space: spaces.Box, act_space: spaces.Box) -> PPOPolicy:
    """A saved model as a policy for envs with these spaces (shapes must match)."""
    _one_thread()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot load PPO model {str(path)!r}: {exc}") from exc
    want = (int(obs_space.shape[0]), int(act_space.shape[0]))
    have = (payload["obs_dim"], payload["act_dim"])
    if want != have:
        raise ConfigError(f"PPO model {str(path)!r} has (obs, action) sizes {have}, this env needs {want}: "
                          "it was trained on another topology or state model")
    low, high = np.asarray(act_space.low), np.asarray(act_space.high)
    model = ActorCritic(have[0], _action_spec(low, high), tuple(payload["hidden"]), PPO_DEFAULTS.activation,
                        PPO_DEFAULTS.init_log_std)
    model.load_state_dict(payload["state_dict"])
    return PPOPolicy(model, low, high)


class _Segment:
    """Steps collected since the last hand-over to the learner, within one episode."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.u: list[np.ndarray] = []
        self.logp: list[float] = []
        self.rew: list[float] = []

    def _clear(self) -> None:
        self.obs, self.u, self.logp, self.rew = [], [], [], []

    def add(self, obs: np.ndarray, u: np.ndarray, logp: float, reward: float) -> None:
        self.obs.append(np.asarray(obs, dtype=np.float32))
        self.u.append(u)
        self.logp.append(logp)
        self.rew.append(reward)

    def close(self, terminated: bool, next_obs: np.ndarray) -> TrajectoryData:
        """The segment as a trajectory; a cut (truncation, rollout end) bootstraps from ``next_obs``."""
        traj = TrajectoryData(
            version=0, observations=np.stack(self.obs), actions=np.stack(self.u).astype(np.float32),
            rewards=np.asarray(self.rew, dtype=np.float32), log_probs=np.asarray(self.logp, dtype=np.float32),
            masks=None, terminated=terminated,
            next_observation=None if terminated else np.asarray(next_obs, dtype=np.float32))
        self._clear()
        return traj


#: Training episodes draw their traffic from ``TRAIN_SEED_BASE + seed * 100_000 + episode``;
#: evaluation runs use ``seed * 1000 + episode`` (``bench/runner.py``), always below this base, so
#: no evaluation episode (train pattern or held-out) replays traffic PPO was trained on.
TRAIN_SEED_BASE = 10_000_000


def train(env: Any, params: learner_config.PPOConfig, total_steps: int, reset_options: Sequence[dict[str, Any]],
          on_step: Callable[[int], None] = lambda n: None) -> tuple[ActorCritic, list[dict[str, Any]]]:
    """Train on ``env`` for ``total_steps`` env steps, cycling episodes through ``reset_options``.

    An update every ``params.rollout_steps`` steps; ``params.seed`` seeds torch, the learner and
    the episodes.  Returns the model and one learning-curve row per finished episode (env steps
    so far, return, pattern).  ``on_step(n)`` is called after every env step (progress bars).
    """
    _one_thread()
    seed = params.seed
    torch.manual_seed(seed)
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    learner = PPO(params, int(env.observation_space.shape[0]), _action_spec(low, high))
    curve: list[dict[str, Any]] = []
    episode, ep_return, ep_len, collected = 0, 0.0, 0, 0
    segment = _Segment()
    obs, _ = env.reset(seed=TRAIN_SEED_BASE + seed * 100_000, options=dict(reset_options[0]))
    for step in range(1, total_steps + 1):
        with torch.no_grad():
            dist = learner.net.distribution(torch.as_tensor(obs, dtype=torch.float32)[None])
            u = dist.sample()
            logp = float(dist.log_prob(u)[0])
        u_np = u[0].numpy()
        next_obs, reward, terminated, truncated, _ = env.step(squash(u_np, low, high))
        segment.add(obs, u_np, logp, float(reward))
        ep_return += float(reward)
        ep_len += 1
        collected += 1
        on_step(1)
        episode_over = terminated or truncated
        rollout_over = collected == params.rollout_steps or step == total_steps
        if episode_over or rollout_over:
            learner.ingest(segment.close(bool(terminated), next_obs))
        if episode_over:
            curve.append({"episode": episode, "env_steps": step, "return": ep_return, "length": ep_len,
                          "pattern": reset_options[episode % len(reset_options)].get("pattern", "")})
            episode += 1
            next_obs, _ = env.reset(seed=TRAIN_SEED_BASE + seed * 100_000 + episode,
                                    options=dict(reset_options[episode % len(reset_options)]))
            ep_return, ep_len = 0.0, 0
        if rollout_over:
            learner.train()
            collected = 0
        obs = next_obs
    return learner.net, curve
