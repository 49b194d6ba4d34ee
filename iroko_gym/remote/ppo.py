"""PPO learner: GAE, clipped surrogate, minibatch epochs, entropy bonus, value loss,
approximate-KL early stop and gradient clipping; categorical (masked) or Gaussian actions.

Stale data: a trajectory collected with a version more than ``max_staleness`` behind the
current one is dropped (and counted by the learner). With ``correction="clip"``, accepted
trajectories from an older version are corrected by the clipped ratio against the behaviour
log-probabilities they carry. With ``correction="vtrace"``, the advantages and value targets
are V-trace's (:mod:`iroko_gym.remote.vtrace`, truncated importance weights from the
behaviour policy to the current one), and the clipped ratio is taken against the current
policy at the start of the update, not the behaviour policy: the "decoupled" PPO objective of
Hilton et al. 2021 ("Batch size-invariance for policy optimization"), whose proximal policy
need not be the one that collected the data. Stale steps then still move the policy instead
of being clipped to a zero gradient.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from iroko_gym.remote.config import ActionSpec, PPOConfig
from iroko_gym.remote.networks import ActorCritic
from iroko_gym.remote.trajectory import TrajectoryData
from iroko_gym.remote.vtrace import vtrace


class PPO:
    """One PPO learner's algorithm state; not thread-safe (owned by the learner thread)."""

    def __init__(self, params: PPOConfig, obs_size: int, action: ActionSpec) -> None:
        self.params = params
        self.action = action
        with torch.random.fork_rng():
            torch.manual_seed(params.seed)
            self.net = ActorCritic(obs_size, action, params.hidden_sizes, params.activation,
                                   params.init_log_std)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=params.learning_rate, eps=1e-5)
        self.generator = torch.Generator().manual_seed(params.seed)
        self._batch: list[TrajectoryData] = []
        self._steps = 0

    def accepts(self, version: int, current: int) -> bool:
        # Versions ahead of the learner come from weights lost in a restart: drop them too.
        return 0 <= current - version <= self.params.max_staleness

    def ingest(self, traj: TrajectoryData) -> None:
        self._batch.append(traj)
        self._steps += len(traj)

    def ready(self) -> bool:
        return self._steps >= self.params.rollout_steps

    def policy_tensors(self) -> dict[str, np.ndarray]:
        return self.net.policy_tensors()

    def trainable(self) -> list[Any]:
        return [self.net, self.optimizer]

    def scalars(self) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def _bootstrap(self, traj: TrajectoryData) -> float:
        if traj.terminated:
            return 0.0
        tail = traj.next_observation if traj.next_observation is not None \
            else traj.observations[-1]
        return float(self.net.value(torch.as_tensor(tail)[None])[0])

    @torch.no_grad()
    def _vtrace(self, obs: torch.Tensor, acts: torch.Tensor, behaviour_logp: torch.Tensor,
                masks: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """V-trace advantages and targets, and the current policy's log-probabilities."""
        p = self.params
        current = self.net.distribution(obs, masks).log_prob(acts)
        log_rhos = (current - behaviour_logp).numpy()
        values = self.net.value(obs).numpy()
        advantages, returns = [], []
        start = 0
        for traj in self._batch:
            end = start + len(traj)
            targets, adv = vtrace(values[start:end], self._bootstrap(traj), traj.rewards,
                                  log_rhos[start:end], gamma=p.gamma, lam=p.gae_lambda,
                                  rho_bar=p.vtrace_rho_bar, c_bar=p.vtrace_c_bar)
            advantages.append(adv)
            returns.append(targets)
            start = end
        return np.concatenate(advantages), np.concatenate(returns), current

    @torch.no_grad()
    def _advantages(self) -> tuple[np.ndarray, np.ndarray]:
        """GAE advantages and returns for every buffered step, trajectory by trajectory."""
        p = self.params
        advantages, returns = [], []
        for traj in self._batch:
            values = self.net.value(torch.as_tensor(traj.observations)).numpy()
            next_values = np.append(values[1:], self._bootstrap(traj))
            deltas = traj.rewards + p.gamma * next_values - values
            adv = np.empty_like(deltas)
            running = 0.0
            for t in range(len(deltas) - 1, -1, -1):
                running = deltas[t] + p.gamma * p.gae_lambda * running
                adv[t] = running
            advantages.append(adv)
            returns.append(adv + values)
        return np.concatenate(advantages), np.concatenate(returns)

    def train(self) -> tuple[dict[str, float], bool]:
        """One policy update on the buffered rollout; returns (metrics, publish)."""
        p = self.params
        batch = self._batch
        obs = torch.as_tensor(np.concatenate([t.observations for t in batch]))
        acts = torch.as_tensor(np.concatenate([t.actions for t in batch]))
        old_logp = torch.as_tensor(np.concatenate([t.log_probs for t in batch]))
        masks = None
        if self.action.discrete and any(t.masks is not None for t in batch):
            masks = torch.as_tensor(np.concatenate([
                t.masks if t.masks is not None else np.ones((len(t), self.action.size), bool)
                for t in batch]))
        if p.correction == "vtrace":  # the proximal policy is the current one (see above)
            adv_np, ret_np, old_logp = self._vtrace(obs, acts, old_logp, masks)
        else:
            adv_np, ret_np = self._advantages()
        adv, ret = torch.as_tensor(adv_np), torch.as_tensor(ret_np)
        self._batch, self._steps = [], 0

        n = obs.shape[0]
        stats: dict[str, list[float]] = {k: [] for k in
                                         ("policy_loss", "value_loss", "entropy", "clip_fraction")}
        kl = 0.0
        epochs = 0
        for _ in range(p.epochs):
            epochs += 1
            order = torch.randperm(n, generator=self.generator)
            kls = []
            for start in range(0, n, p.minibatch_size):
                idx = order[start:start + p.minibatch_size]
                dist = self.net.distribution(obs[idx], None if masks is None else masks[idx])
                logp = dist.log_prob(acts[idx])
                log_ratio = logp - old_logp[idx]
                ratio = log_ratio.exp()
                mb_adv = adv[idx]
                if p.normalize_advantages and idx.numel() > 1:
                    mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                policy_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(
                    1 - p.clip_coef, 1 + p.clip_coef)).mean()
                value_loss = 0.5 * (self.net.value(obs[idx]) - ret[idx]).pow(2).mean()
                entropy = dist.entropy().mean()
                loss = policy_loss + p.value_coef * value_loss - p.entropy_coef * entropy
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), p.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    kls.append(float(((ratio - 1) - log_ratio).mean()))
                    stats["clip_fraction"].append(
                        float(((ratio - 1).abs() > p.clip_coef).float().mean()))
                stats["policy_loss"].append(policy_loss.item())
                stats["value_loss"].append(value_loss.item())
                stats["entropy"].append(entropy.item())
            kl = float(np.mean(kls))
            if p.target_kl is not None and kl > p.target_kl:
                break
        metrics = {k: float(np.mean(v)) for k, v in stats.items()}
        metrics.update(approx_kl=kl, epochs=float(epochs), batch_steps=float(n))
        return metrics, True

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume, including the trajectories of the unfinished rollout."""
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "pending": [{k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
                             for k, v in asdict(t).items()} for t in self._batch]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self._batch = [TrajectoryData(**{k: v.numpy() if isinstance(v, torch.Tensor) else v
                                         for k, v in t.items()}) for t in state["pending"]]
        self._steps = sum(len(t) for t in self._batch)
