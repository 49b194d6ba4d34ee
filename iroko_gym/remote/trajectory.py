"""One finished trajectory as the learners consume it (plain arrays, no gRPC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrajectoryData:
    """A decoded, validated trajectory of ``len(rewards)`` steps."""

    version: int
    observations: np.ndarray        # [T, obs] float32
    actions: np.ndarray             # [T] int64 or [T, act] float32
    rewards: np.ndarray             # [T] float32
    log_probs: np.ndarray           # [T] float32
    masks: np.ndarray | None        # [T, n] bool
    terminated: bool
    next_observation: np.ndarray | None  # [obs] float32

    def __len__(self) -> int:
        return int(self.rewards.shape[0])
