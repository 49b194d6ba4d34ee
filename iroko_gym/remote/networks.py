"""Torch networks of the learners (server side only).

Parameter names are the contract with the client's numpy inference
(:mod:`iroko_gym.remote.policy`): ``actor.{i}.weight/bias`` and ``log_std`` for PPO,
``q.{i}.weight/bias`` for DQN, layers numbered from 0 with the activation between them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from iroko_gym.remote.config import ActionSpec

_ACT = {"tanh": torch.tanh, "relu": torch.relu}


def _mlp(sizes: list[int], out_gain: float) -> nn.ModuleList:
    layers = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    for i, layer in enumerate(layers):
        nn.init.orthogonal_(layer.weight, out_gain if i == len(layers) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)
    return nn.ModuleList(layers)


def _forward(layers: nn.ModuleList, x: torch.Tensor, activation: str) -> torch.Tensor:
    act = _ACT[activation]
    for i, layer in enumerate(layers):
        x = layer(x)
        if i < len(layers) - 1:
            x = act(x)
    return x


def _numpy(module: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy()
            for name, value in module.state_dict().items() if name.startswith(prefix)}


class ActorCritic(nn.Module):
    """PPO policy (categorical logits or Gaussian mean with state-free log std) and critic."""

    def __init__(self, obs_size: int, action: ActionSpec, hidden: tuple[int, ...],
                 activation: str, init_log_std: float = 0.0) -> None:
        super().__init__()
        self.action = action
        self.activation = activation
        self.actor = _mlp([obs_size, *hidden, action.size], 0.01)
        self.critic = _mlp([obs_size, *hidden, 1], 1.0)
        if not action.discrete:
            self.log_std = nn.Parameter(torch.full((action.size,), float(init_log_std)))

    def distribution(self, obs: torch.Tensor, masks: torch.Tensor | None = None) -> Distribution:
        out = _forward(self.actor, obs, self.activation)
        if self.action.discrete:
            if masks is not None:
                out = out.masked_fill(~masks, -1e9)
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return _forward(self.critic, obs, self.activation).squeeze(-1)

    def policy_tensors(self) -> dict[str, np.ndarray]:
        """What a client needs to act: actor weights (and ``log_std``)."""
        tensors = _numpy(self, "actor.")
        if not self.action.discrete:
            tensors["log_std"] = self.log_std.detach().cpu().numpy().copy()
        return tensors


class QNetwork(nn.Module):
    """Q-values of each discrete action."""

    def __init__(self, obs_size: int, n_actions: int, hidden: tuple[int, ...],
                 activation: str) -> None:
        super().__init__()
        self.activation = activation
        self.q = _mlp([obs_size, *hidden, n_actions], 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _forward(self.q, obs, self.activation)

    def policy_tensors(self) -> dict[str, np.ndarray]:
        return _numpy(self, "q.")
