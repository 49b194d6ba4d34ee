"""Local inference on the client: the current model snapshot evaluated with numpy.

No torch and no network round trip per action: a 64x64 MLP forward pass is a few small
matrix products. PPO samples from a (masked) categorical or a Gaussian; DQN acts
epsilon-greedily with the epsilon carried in the snapshot's scalars.
"""

from __future__ import annotations

import math

import numpy as np

from iroko_gym.errors import RemoteError
from iroko_gym.remote.config import ActionSpec
from iroko_gym.remote.snapshots import ModelSnapshot

_LOG_2PI = math.log(2.0 * math.pi)


def _layers(snapshot: ModelSnapshot, prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    layers = []
    i = 0
    while f"{prefix}.{i}.weight" in snapshot.tensors:
        weight = snapshot.tensors[f"{prefix}.{i}.weight"]
        layers.append((np.ascontiguousarray(weight.T), snapshot.tensors[f"{prefix}.{i}.bias"]))
        i += 1
    if not layers:
        raise RemoteError(f"model version {snapshot.version} has no {prefix}.0.weight tensor")
    return layers


class LocalPolicy:
    """Acts with one snapshot; cheap to build, never mutated (swap for a new version)."""

    def __init__(self, snapshot: ModelSnapshot, algorithm: str, activation: str,
                 action: ActionSpec, rng: np.random.Generator) -> None:
        self.version = snapshot.version
        self._dqn = algorithm == "DQN"
        self._layers = _layers(snapshot, "q" if self._dqn else "actor")
        self._relu = activation == "relu"
        self._action = action
        self._rng = rng
        self.epsilon = float(snapshot.scalars.get("epsilon", 0.0))
        if not action.discrete:
            log_std = snapshot.tensors["log_std"]
            self._log_std = log_std.astype(np.float64)
            self._std = np.exp(self._log_std)
            self._logp_const = -float(self._log_std.sum()) - 0.5 * _LOG_2PI * action.size
            self._low = np.asarray(action.low, dtype=np.float32)
            self._high = np.asarray(action.high, dtype=np.float32)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Logits, Gaussian mean or Q-values for one observation (float32 vector)."""
        x = obs
        last = len(self._layers) - 1
        for i, (weight_t, bias) in enumerate(self._layers):
            x = x @ weight_t + bias
            if i < last:
                x = np.maximum(x, 0.0) if self._relu else np.tanh(x)
        return x

    def act(self, obs: np.ndarray, mask: np.ndarray | None) -> tuple[object, object, float]:
        """``(action for the system, action to record, log-probability)``."""
        out = self.forward(obs)
        if not self._action.discrete:
            raw = (out + self._std * self._rng.standard_normal(out.shape[0])).astype(np.float32)
            z = (raw - out) / self._std
            logp = self._logp_const - 0.5 * float(z @ z)
            return np.clip(raw, self._low, self._high), raw, logp
        if self._dqn:
            return self._epsilon_greedy(out, mask)
        logits = out.astype(np.float64)
        if mask is not None:
            logits = np.where(mask, logits, -np.inf)
        probs = np.exp(logits - logits.max())
        cdf = np.cumsum(probs)
        index = int(np.searchsorted(cdf, self._rng.random() * cdf[-1], side="right"))
        index = min(index, probs.shape[0] - 1)
        return index, index, math.log(probs[index] / cdf[-1])

    def _epsilon_greedy(self, q: np.ndarray, mask: np.ndarray | None) -> tuple[int, int, float]:
        if self._rng.random() < self.epsilon:
            choices = np.flatnonzero(mask) if mask is not None else None
            index = int(self._rng.choice(choices)) if choices is not None \
                else int(self._rng.integers(q.shape[0]))
        else:
            index = int(np.argmax(np.where(mask, q, -np.inf) if mask is not None else q))
        return index, index, 0.0
