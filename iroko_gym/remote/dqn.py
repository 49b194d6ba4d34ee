"""DQN learner: replay buffer, target network (hard copy or Polyak), epsilon schedule carried
in the published model's scalars, and action masks on both acting and bootstrapping.

Off-policy, so trajectories from any version are used. Transitions are stored as they arrive;
the last step of a truncated trajectory without ``next_observation`` has no successor and is
not stored (it is counted in ``skipped_transitions``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from iroko_gym.remote.config import ActionSpec, DQNConfig
from iroko_gym.remote.networks import QNetwork
from iroko_gym.remote.trajectory import TrajectoryData


class ReplayBuffer:
    """Fixed-size ring of transitions in preallocated arrays."""

    def __init__(self, capacity: int, obs_size: int, n_actions: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_size), np.float32)
        self.next_obs = np.zeros((capacity, obs_size), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.next_masks = np.ones((capacity, n_actions), bool)
        self.size = 0
        self.cursor = 0

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
            next_obs: np.ndarray, dones: np.ndarray, next_masks: np.ndarray) -> None:
        for start in range(0, len(actions), self.capacity):
            end = min(start + self.capacity, len(actions))
            idx = (self.cursor + np.arange(end - start)) % self.capacity
            self.obs[idx], self.next_obs[idx] = obs[start:end], next_obs[start:end]
            self.actions[idx], self.rewards[idx] = actions[start:end], rewards[start:end]
            self.dones[idx], self.next_masks[idx] = dones[start:end], next_masks[start:end]
            self.cursor = int((idx[-1] + 1) % self.capacity)
            self.size = min(self.capacity, self.size + end - start)

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {"size": n, "cursor": self.cursor, **{
            k: torch.from_numpy(getattr(self, k)[:n].copy())
            for k in ("obs", "next_obs", "actions", "rewards", "dones", "next_masks")}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = int(state["size"])
        for k in ("obs", "next_obs", "actions", "rewards", "dones", "next_masks"):
            getattr(self, k)[:n] = state[k].numpy()
        self.size, self.cursor = n, int(state["cursor"])


class DQN:
    """One DQN learner's algorithm state; owned by the learner thread."""

    def __init__(self, params: DQNConfig, obs_size: int, action: ActionSpec) -> None:
        assert action.n is not None, "ClientConfig and the server reject DQN on a box action"
        self.params = params
        self.n_actions = action.n
        with torch.random.fork_rng():
            torch.manual_seed(params.seed)
            self.q = QNetwork(obs_size, action.n, params.hidden_sizes, params.activation)
            self.target = QNetwork(obs_size, action.n, params.hidden_sizes, params.activation)
        self.target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=params.learning_rate)
        self.buffer = ReplayBuffer(params.buffer_size, obs_size, action.n)
        self.rng = np.random.default_rng(params.seed)
        self.transitions = 0
        self.skipped_transitions = 0
        self.updates = 0
        self._owed = 0.0
        self._since_publish = 0

    def accepts(self, version: int, current: int) -> bool:
        return True

    def ingest(self, traj: TrajectoryData) -> None:
        steps = len(traj)
        next_obs = np.empty_like(traj.observations)
        next_obs[:-1] = traj.observations[1:]
        dones = np.zeros(steps, np.float32)
        next_masks = np.ones((steps, self.n_actions), bool)
        if traj.masks is not None:
            next_masks[:-1] = traj.masks[1:]
        keep = steps
        if traj.terminated:
            next_obs[-1] = 0.0
            dones[-1] = 1.0
        elif traj.next_observation is not None:
            next_obs[-1] = traj.next_observation
        else:
            keep = steps - 1
            self.skipped_transitions += 1
        if keep == 0:
            return
        self.buffer.add(traj.observations[:keep], traj.actions[:keep], traj.rewards[:keep],
                        next_obs[:keep], dones[:keep], next_masks[:keep])
        self.transitions += keep
        if self.transitions >= self.params.learning_starts:
            self._owed += keep / self.params.train_every_steps

    def ready(self) -> bool:
        return self._owed >= 1.0 and self.buffer.size >= self.params.minibatch_size

    def policy_tensors(self) -> dict[str, np.ndarray]:
        return self.q.policy_tensors()

    def trainable(self) -> list[Any]:
        return [self.q, self.target, self.optimizer]

    def scalars(self) -> dict[str, float]:
        return {"epsilon": self.params.epsilon(self.transitions)}

    def train(self) -> tuple[dict[str, float], bool]:
        """The gradient steps owed for the transitions ingested; (metrics, publish)."""
        p = self.params
        losses, qs = [], []
        while self._owed >= 1.0:
            self._owed -= 1.0
            idx = self.rng.integers(0, self.buffer.size, p.minibatch_size)
            b = self.buffer
            obs, next_obs = torch.as_tensor(b.obs[idx]), torch.as_tensor(b.next_obs[idx])
            with torch.no_grad():
                next_q = self.target(next_obs).masked_fill(
                    ~torch.as_tensor(b.next_masks[idx]), -torch.inf).max(dim=1).values
                target = torch.as_tensor(b.rewards[idx]) + p.gamma * next_q * (
                    1.0 - torch.as_tensor(b.dones[idx]))
            q = self.q(obs).gather(1, torch.as_tensor(b.actions[idx])[:, None]).squeeze(1)
            loss = nn.functional.smooth_l1_loss(q, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.q.parameters(), p.max_grad_norm)
            self.optimizer.step()
            self.updates += 1
            self._since_publish += 1
            self._update_target()
            losses.append(loss.item())
            qs.append(q.mean().item())
        publish = self._since_publish >= p.publish_every_updates
        if publish:
            self._since_publish = 0
        return {"q_loss": float(np.mean(losses)), "q_mean": float(np.mean(qs)),
                "epsilon": p.epsilon(self.transitions),
                "replay_size": float(self.buffer.size),
                "skipped_transitions": float(self.skipped_transitions)}, publish

    def _update_target(self) -> None:
        p = self.params
        if p.tau >= 1.0:
            if self.updates % p.target_update_interval == 0:
                self.target.load_state_dict(self.q.state_dict())
            return
        with torch.no_grad():
            for target, online in zip(self.target.parameters(), self.q.parameters()):
                target.lerp_(online, p.tau)

    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "buffer": self.buffer.state_dict(),
                "rng": self.rng.bit_generator.state, "transitions": self.transitions,
                "skipped_transitions": self.skipped_transitions, "updates": self.updates,
                "owed": self._owed, "since_publish": self._since_publish}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = state["rng"]
        self.transitions = int(state["transitions"])
        self.skipped_transitions = int(state["skipped_transitions"])
        self.updates = int(state["updates"])
        self._owed, self._since_publish = float(state["owed"]), int(state["since_publish"])

