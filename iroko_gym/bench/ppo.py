"""PPO for the benchmark suite: rollouts on the env, updates by the remote service's learner.

The algorithm (GAE, clipped objective, minibatch epochs, value loss, gradient clipping) is
:class:`iroko_gym.remote.ppo.PPO`, the learner the training service runs, so the project has
one PPO.  This module collects the rollouts, saves and loads models, and evaluates them.  The
policy is a Gaussian over unbounded ``u``; the env receives ``low + (high - low) * sigmoid(u)``
(the squash is treated as part of the environment, so log-probabilities are those of ``u``).
Evaluation uses the mean action.  Training runs on the real emulated network, in real time.
Two controls: ``central`` (one policy maps the env's whole observation to every host's
fraction) and ``local`` (one policy shared by the hosts, each changing its own rate from its
own view: :mod:`iroko_gym.bench.local`).
The hyperparameters are a :class:`iroko_gym.remote.config.PPOConfig` (the suite's defaults are
:data:`iroko_gym.bench.config.PPO_DEFAULTS`).  Training and evaluation run torch on one thread:
the emulated network's collectors and traffic need the other cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import gymnasium as gym
import torch

from iroko_gym.atomic import atomic_write
from iroko_gym.bench.config import PPO_DEFAULTS
from iroko_gym.bench.local import AGENT_ACTION, FEATURES, HOST_REWARDS, SENDS, HostView, host_reward
from iroko_gym.errors import ConfigError
from iroko_gym.remote import config as learner_config
from iroko_gym.remote.networks import ActorCritic
from iroko_gym.remote.ppo import PPO
from iroko_gym.remote.trajectory import TrajectoryData
from iroko_gym.validate import check_choice


def _one_thread() -> None:
    torch.set_num_threads(1)


def _action_spec(low: np.ndarray, high: np.ndarray) -> learner_config.ActionSpec:
    return learner_config.ActionSpec(low=tuple(map(float, low)), high=tuple(map(float, high)))


def squash(u: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map an unbounded policy output into the action box."""
    return (low + (high - low) / (1.0 + np.exp(-u))).astype(np.float32)


class PPOPolicy:
    """Deterministic evaluation policy of the central control: the squashed mean action."""

    def __init__(self, model: ActorCritic) -> None:
        self.model = model.eval()
        self.low, self.high = np.asarray(model.action.low), np.asarray(model.action.high)
        self.obs_dim = model.actor[0].in_features

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean = self.model.distribution(torch.as_tensor(obs, dtype=torch.float32).reshape(-1, self.obs_dim)).mean
        return squash(mean.numpy(), self.low, self.high)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.mean_action(obs)[0]


class LocalPolicy(PPOPolicy):
    """Deterministic evaluation policy of the local control: every host's mean factor on its rate."""

    def __init__(self, model: ActorCritic, view: HostView) -> None:
        super().__init__(model)
        self.view = view

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.view.fractions(obs, self.mean_action(self.view.features(obs))[:, 0])


def save_model(model: ActorCritic, path: Path, control: str = "central") -> Path:
    """Save ``model`` with its action bounds; ``control`` says whose policy it is (central or local)."""
    sizes = [layer.out_features for layer in model.actor]
    payload = {"state_dict": model.state_dict(), "obs_dim": model.actor[0].in_features, "act_dim": sizes[-1],
               "hidden": sizes[:-1], "low": list(model.action.low), "high": list(model.action.high), "control": control}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_policy(path: str | Path, env: Any) -> PPOPolicy:
    """A saved model as the policy of ``env`` (an unwrapped DCEnv); its sizes must fit the env's."""
    _one_thread()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot load PPO model {str(path)!r}: {exc}") from exc
    control = payload.get("control", "central")
    if control == "local":
        view = HostView(env)
        want = (len(FEATURES), 1)
    else:
        want = (int(env.observation_space.shape[0]), int(env.action_space.shape[0]))
    have = (payload["obs_dim"], payload["act_dim"])
    if want != have:
        raise ConfigError(f"PPO model {str(path)!r} ({control} control) has (obs, action) sizes {have}, this env needs "
                          f"{want}: it was trained on another topology or state model")
    model = ActorCritic(have[0], _action_spec(payload["low"], payload["high"]), tuple(payload["hidden"]),
                        PPO_DEFAULTS.activation, PPO_DEFAULTS.init_log_std)
    model.load_state_dict(payload["state_dict"])
    return LocalPolicy(model, view) if control == "local" else PPOPolicy(model)


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


#: Training episodes draw their traffic from ``TRAIN_SEED_BASE + seed * 100_000 + env * 10_000 + episode``;
#: evaluation runs use ``seed * 1000 + episode`` (``bench/runner.py``), always below this base, so
#: no evaluation episode (train pattern or held-out) replays traffic PPO was trained on.
TRAIN_SEED_BASE = 10_000_000


def episode_option(env_index: int, episode: int, reset_options: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Reset options of a training env's ``episode``: env ``i`` starts ``i`` places into the cycle,
    so parallel envs train on different patterns at once."""
    return dict(reset_options[(env_index + episode) % len(reset_options)])


class EpisodeCycle(gym.Wrapper):
    """A training env whose every reset takes its own next seed and pattern (:func:`episode_option`).

    A vector env resets finished envs by itself, without options; this wrapper makes those resets
    (and the first one) the training protocol's, in the env's own process.
    """

    def __init__(self, env: gym.Env, env_index: int, seed: int, reset_options: Sequence[dict[str, Any]]) -> None:
        super().__init__(env)
        self.env_index, self.options = env_index, [dict(o) for o in reset_options]
        self.first_seed = TRAIN_SEED_BASE + seed * 100_000 + env_index * 10_000
        self.episodes = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        episode, self.episodes = self.episodes, self.episodes + 1
        return self.env.reset(seed=self.first_seed + episode, options=episode_option(self.env_index, episode, self.options))


def train(envs: gym.vector.VectorEnv, params: learner_config.PPOConfig, total_steps: int,
          reset_options: Sequence[dict[str, Any]], on_step: Callable[[int], None] = lambda n: None,
          reward: str = "env") -> tuple[ActorCritic, list[dict[str, Any]]]:
    """Train on the :class:`EpisodeCycle` envs of ``envs`` for ``total_steps`` env steps in all.

    ``envs`` steps its N envs together (``AutoresetMode.SAME_STEP``: a finished env's final
    observation is in ``info["final_obs"]``); N envs in N processes collect N times faster.  An
    update every ``params.rollout_steps`` steps (rounded up to whole rounds of N); ``params.seed``
    seeds torch and the learner.  Envs wrapped in :class:`~iroko_gym.bench.local.LocalControl`
    (observations of one row per host) train one policy shared by the hosts: each sending host
    is an agent with its own trajectories and, by ``reward``
    (:data:`~iroko_gym.bench.local.HOST_REWARDS`), the env's reward or its own
    :func:`~iroko_gym.bench.local.host_reward`; hosts that send nothing in an episode are left out.
    Returns the model and one learning-curve row per finished episode (env steps so far, return
    of the env's reward, pattern).  ``on_step(n)`` follows the steps (progress bars).
    """
    check_choice("reward", reward, HOST_REWARDS)
    _one_thread()
    torch.manual_seed(params.seed)
    n = envs.num_envs
    obs, _ = envs.reset()
    local = obs.ndim == 3
    if reward == "host" and not local:
        raise ConfigError("a per-host reward needs the local control (one observation row per host)")
    agents = obs.shape[1] if local else 1  # learners' agents per env
    space: Any = envs.single_action_space
    action = AGENT_ACTION if local else _action_spec(space.low, space.high)
    low, high = np.asarray(action.low), np.asarray(action.high)
    learner = PPO(params, int(obs.shape[-1]), action)
    curve: list[dict[str, Any]] = []
    episodes, returns, lengths = [0] * n, np.zeros(n), [0] * n
    segments = [_Segment() for _ in range(n * agents)]
    steps = collected = 0
    while steps < total_steps:
        flat = obs.reshape(n * agents, -1)
        with torch.no_grad():
            dist = learner.net.distribution(torch.as_tensor(flat, dtype=torch.float32))
            u = dist.sample()
            logp = dist.log_prob(u).numpy()
        u_np = u.numpy()
        next_obs, env_reward, terminated, truncated, info = envs.step(squash(u_np, low, high).reshape(n, -1))
        steps += n
        collected += n
        on_step(n)
        rollout_over = collected >= params.rollout_steps or steps >= total_steps
        ended = terminated | truncated
        seen = np.stack([info["final_obs"][i] if ended[i] else next_obs[i] for i in range(n)])
        rewards = host_reward(seen) if reward == "host" else np.repeat(env_reward, agents).reshape(n, agents)
        for k, segment in enumerate(segments):
            i, j = divmod(k, agents)
            if not local or flat[k, SENDS] > 0.5:
                segment.add(flat[k], u_np[k], float(logp[k]), float(rewards[i, j]))
            if not segment.obs:
                continue
            if ended[i] or rollout_over:
                learner.ingest(segment.close(bool(terminated[i]), seen[i][j] if local else seen[i]))
        for i in range(n):
            returns[i] += float(env_reward[i])
            lengths[i] += 1
            if ended[i]:
                curve.append({"episode": len(curve), "env_steps": steps, "return": float(returns[i]), "length": lengths[i],
                              "pattern": episode_option(i, episodes[i], reset_options).get("pattern", "")})
                episodes[i] += 1
                returns[i], lengths[i] = 0.0, 0
        if rollout_over:
            learner.train()
            collected = 0
        obs = next_obs
    return learner.net, curve
