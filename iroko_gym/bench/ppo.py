"""A small, readable PPO (clipped objective, GAE) with continuous actions, in local PyTorch.

Chosen over Stable-Baselines3 so that the suite has no extra dependency, the whole algorithm
fits on two screens, and a reader can see exactly what the learned baseline does.  The policy is
a Gaussian over unbounded ``u``; the env receives ``low + (high - low) * sigmoid(u)`` (the squash
is treated as part of the environment, so log-probabilities are those of ``u``).  Evaluation
uses the mean action.  Training runs on the real emulated network, in real time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from iroko_gym.atomic import atomic_write
from iroko_gym.errors import ConfigError

torch.set_num_threads(1)


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters (defaults as in CleanRL's continuous-action PPO, scaled down)."""

    total_steps: int = 3000
    rollout: int = 100
    lr: float = 3e-4
    gamma: float = 0.95
    gae_lambda: float = 0.9
    epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    hidden: int = 64


class ActorCritic(nn.Module):
    """Two tanh MLPs: a Gaussian policy with state-independent log std, and a value function."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, hidden

        def mlp(out: int, gain: float) -> nn.Sequential:
            layers = [nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, out)]
            for layer in layers[::2]:
                nn.init.orthogonal_(layer.weight, np.sqrt(2))  # type: ignore[arg-type]
                nn.init.zeros_(layer.bias)  # type: ignore[arg-type]
            nn.init.orthogonal_(layers[-1].weight, gain)  # type: ignore[arg-type]
            return nn.Sequential(*layers)

        self.actor = mlp(act_dim, 0.01)
        self.critic = mlp(1, 1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), -0.5))

    def dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.actor(obs), self.log_std.exp())

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)


def squash(u: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map an unbounded policy output into the action box."""
    return (low + (high - low) / (1.0 + np.exp(-u))).astype(np.float32)


class PPOPolicy:
    """Deterministic evaluation policy: the squashed mean action."""

    def __init__(self, model: ActorCritic, low: np.ndarray, high: np.ndarray) -> None:
        self.model, self.low, self.high = model.eval(), low, high

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean = self.model.actor(torch.as_tensor(obs, dtype=torch.float32)).numpy()
        return squash(mean, self.low, self.high)


def save_model(model: ActorCritic, path: Path, low: np.ndarray, high: np.ndarray) -> Path:
    payload = {"state_dict": model.state_dict(), "obs_dim": model.obs_dim, "act_dim": model.act_dim,
               "hidden": model.hidden, "low": low.tolist(), "high": high.tolist()}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_policy(path: str | Path, obs_space: spaces.Box, act_space: spaces.Box) -> PPOPolicy:
    """A saved model as a policy for envs with these spaces (shapes must match)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot load PPO model {str(path)!r}: {exc}") from exc
    want = (int(obs_space.shape[0]), int(act_space.shape[0]))
    have = (payload["obs_dim"], payload["act_dim"])
    if want != have:
        raise ConfigError(f"PPO model {str(path)!r} has (obs, action) sizes {have}, this env needs {want}: "
                          "it was trained on another topology or state model")
    model = ActorCritic(*have, hidden=payload["hidden"])
    model.load_state_dict(payload["state_dict"])
    return PPOPolicy(model, np.asarray(act_space.low), np.asarray(act_space.high))


def _update(model: ActorCritic, opt: torch.optim.Optimizer, cfg: PPOConfig, batch: dict[str, torch.Tensor]) -> None:
    n = batch["obs"].shape[0]
    size = max(n // cfg.minibatches, 1)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(n).split(size):
            dist = model.dist(batch["obs"][idx])
            logp = dist.log_prob(batch["u"][idx]).sum(-1)
            ratio = (logp - batch["logp"][idx]).exp()
            adv = batch["adv"][idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv
            pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
            vf = 0.5 * (model.value(batch["obs"][idx]) - batch["ret"][idx]).pow(2).mean()
            loss = pg + cfg.vf_coef * vf - cfg.ent_coef * dist.entropy().sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()


def _advantages(rew: np.ndarray, val: np.ndarray, done: np.ndarray, last_val: float, cfg: PPOConfig) -> np.ndarray:
    """GAE; ``done[t]`` means the episode ended after step t (no bootstrap across it)."""
    adv = np.zeros_like(rew)
    gae, next_val = 0.0, last_val
    for t in reversed(range(len(rew))):
        nonterminal = 1.0 - done[t]
        delta = rew[t] + cfg.gamma * next_val * nonterminal - val[t]
        gae = delta + cfg.gamma * cfg.gae_lambda * nonterminal * gae
        adv[t], next_val = gae, val[t]
    return adv


def train(env: Any, cfg: PPOConfig, reset_options: Sequence[dict[str, Any]], seed: int,
          on_step: Callable[[int], None] = lambda n: None) -> tuple[ActorCritic, list[dict[str, Any]]]:
    """Train on ``env`` for ``cfg.total_steps``, cycling episodes through ``reset_options``.

    Returns the model and one learning-curve row per finished episode (env steps so far,
    return, pattern).  ``on_step(n)`` is called after every env step (progress bars).
    """
    torch.manual_seed(seed)
    obs_dim, act_dim = int(env.observation_space.shape[0]), int(env.action_space.shape[0])
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    model = ActorCritic(obs_dim, act_dim, cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=1e-5)
    curve: list[dict[str, Any]] = []
    episode = 0
    obs, _ = env.reset(seed=seed * 100_000, options=dict(reset_options[0]))
    ep_return, ep_len = 0.0, 0
    buf: dict[str, list[Any]] = {k: [] for k in ("obs", "u", "logp", "rew", "val", "done")}
    for step in range(1, cfg.total_steps + 1):
        with torch.no_grad():
            o = torch.as_tensor(obs, dtype=torch.float32)
            dist = model.dist(o)
            u = dist.sample()
            buf["logp"].append(float(dist.log_prob(u).sum()))
            buf["val"].append(float(model.value(o)))
        buf["obs"].append(np.asarray(obs, dtype=np.float32))
        buf["u"].append(u.numpy())
        obs, reward, terminated, truncated, _ = env.step(squash(u.numpy(), low, high))
        ep_return += reward
        ep_len += 1
        buf["rew"].append(reward)
        buf["done"].append(float(terminated or truncated))
        on_step(1)
        if terminated or truncated:
            curve.append({"episode": episode, "env_steps": step, "return": ep_return, "length": ep_len,
                          "pattern": reset_options[episode % len(reset_options)].get("pattern", "")})
            episode += 1
            obs, _ = env.reset(seed=seed * 100_000 + episode, options=dict(reset_options[episode % len(reset_options)]))
            ep_return, ep_len = 0.0, 0
        if len(buf["rew"]) == cfg.rollout or step == cfg.total_steps:
            with torch.no_grad():
                last_val = 0.0 if buf["done"][-1] else float(model.value(torch.as_tensor(obs, dtype=torch.float32)))
            rew, val, done = (np.array(buf[k], dtype=np.float32) for k in ("rew", "val", "done"))
            adv = _advantages(rew, val, done, last_val, cfg)
            batch = {"obs": torch.as_tensor(np.stack(buf["obs"])), "u": torch.as_tensor(np.stack(buf["u"])),
                     "logp": torch.as_tensor(buf["logp"]), "adv": torch.as_tensor(adv),
                     "ret": torch.as_tensor(adv + val)}
            _update(model, opt, cfg, batch)
            buf = {k: [] for k in buf}
    return model, curve
