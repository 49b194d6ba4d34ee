"""A learned cache policy for ``Cache-v1``: the remote service's DQN learner, used in-process.

Training: the DQN learner of :mod:`iroko_gym.remote.dqn` (replay buffer, epsilon-greedy) with
``gamma = 0`` learns, from ``Cache-v1`` episodes with the hindsight ``reuse`` reward (+1 when
keep/evict-first matches whether the file is read again, -1 otherwise), ``Q(keep) - Q(evict) =
4 p - 2`` where ``p`` is the probability that the shown file is read again.  Acting: the keep
priority ranks files by ``p`` per kB (``sigmoid((log p - log kB + log 2**20) / 4)``; the size comes
back from the observation's documented transform), so small files likely to be read again are kept
first, like GDSF but with a learned, not counted, value.  Inference is the service client's own
numpy forward pass (:class:`iroko_gym.remote.policy.LocalPolicy`) on a model snapshot, so the same
weights can serve a live cache through the remote service.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iroko_gym.atomic import atomic_write
from iroko_gym.cache.modern import SIZE_SCALE, ModernCacheEnv
from iroko_gym.cache.trace import Trace
from iroko_gym.validate import check_int, check_real

_SIZE_SHIFT = math.log(2**20)  # priority 0.5 for p = 1 at 1 GB
_TEMPERATURE = 4.0  # keeps the sigmoid away from float saturation over p in [1e-3, 1], kB in [1, 2**40]
_P_FLOOR = 1e-3


@dataclass(frozen=True)
class LearnConfig:
    """Training budget and hyperparameters of the learned agent (validated)."""

    steps: int = 60_000  # env steps of experience (passes over the training part)
    hidden: int = 64  # two hidden layers of this width (ReLU)
    learning_rate: float = 1e-3
    minibatch: int = 256
    segment: int = 500  # steps per trajectory handed to the learner
    label_margin: float = 0.1  # the last fraction of the training part is not learned from: its labels see no future
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("learn steps", self.steps, 100)
        check_int("hidden", self.hidden, 1, 4096)
        check_real("learning_rate", self.learning_rate, positive=True, high=1.0)
        check_int("minibatch", self.minibatch, 1, 65_536)
        check_int("segment", self.segment, 1)
        check_real("label_margin", self.label_margin, 0.0, 0.9)
        check_int("seed", self.seed, 0)


class ReuseAgent:
    """``obs -> keep priority`` from Q-values of a DQN snapshot (numpy inference, no torch)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy  # iroko_gym.remote.policy.LocalPolicy

    def reuse_probability(self, obs: np.ndarray) -> float:
        q_evict, q_keep = self.policy.forward(np.asarray(obs, dtype=np.float32))
        return min(1.0, max(_P_FLOOR, (float(q_keep) - float(q_evict) + 2.0) / 4.0))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        log_kb = float(obs[0]) * SIZE_SCALE  # log1p(kB), the observation's size transform undone
        x = (math.log(self.reuse_probability(obs)) - log_kb + _SIZE_SHIFT) / _TEMPERATURE
        return np.array([1.0 / (1.0 + math.exp(-x))], dtype=np.float32)


def head(trace: Trace, rows: int) -> Trace:
    """The first ``rows`` accesses of a trace (the training part)."""
    return Trace(time=trace.time[:rows], tokens=trace.tokens[:rows], kb=trace.kb[:rows], fid=trace.fid[:rows])


def train_agent(trace: Trace, size_tb: float, config: LearnConfig) -> tuple[ReuseAgent, dict[str, Any], Any]:
    """Train on ``trace`` (pass only the training part); returns the agent, figures and the learner."""
    import torch

    from iroko_gym.remote.config import ActionSpec, DQNConfig
    from iroko_gym.remote.dqn import DQN
    from iroko_gym.remote.trajectory import TrajectoryData

    torch.set_num_threads(1)  # tiny networks: threads only contend on a shared machine
    torch.manual_seed(config.seed)
    env = ModernCacheEnv(trace=trace, cache_size_tb=size_tb, reward_mode="reuse", length=None, random_window=False)
    learnable = int(len(trace) * (1.0 - config.label_margin))
    params = DQNConfig(
        hidden_sizes=(config.hidden, config.hidden), activation="relu", learning_rate=config.learning_rate,
        buffer_size=min(config.steps, 200_000), minibatch_size=config.minibatch, gamma=0.0,
        learning_starts=min(config.steps // 10, 5_000), train_every_steps=4, target_update_interval=1_000,
        epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=max(1, config.steps // 2), seed=config.seed)
    learner = DQN(params, len(env.observation_space.low), ActionSpec(n=2))
    rng = np.random.default_rng(config.seed)
    began, steps, updates, losses = time.perf_counter(), 0, 0, []
    obs, info = env.reset(seed=config.seed)
    batch: list[tuple[np.ndarray, int, float]] = []
    while steps < config.steps:
        if rng.random() < params.epsilon(learner.transitions):
            action = int(rng.integers(2))
        else:
            with torch.no_grad():
                action = int(learner.q(torch.as_tensor(obs)[None]).argmax())
        shown = info["access"]  # learn only where the label (read again?) can see enough of the future
        next_obs, reward, terminated, _, info = env.step(np.array([float(action)], dtype=np.float32))
        if shown < learnable:
            batch.append((obs, action, float(reward)))
        steps += 1
        obs = next_obs
        if batch and (len(batch) == config.segment or terminated or steps == config.steps):
            learner.ingest(TrajectoryData(
                version=0, observations=np.stack([b[0] for b in batch]).astype(np.float32),
                actions=np.array([b[1] for b in batch], dtype=np.int64),
                rewards=np.array([b[2] for b in batch], dtype=np.float32),
                log_probs=np.zeros(len(batch), dtype=np.float32), masks=None, terminated=True,
                next_observation=None))
            batch = []
            if learner.ready():
                metrics, _ = learner.train()
                losses.append(metrics["q_loss"])
                updates = learner.updates
        if terminated:
            obs, info = env.reset()
    figures = {"train_accesses": len(trace), "learned_accesses": learnable, "env_steps": steps,
               "updates": updates, "final_q_loss": float(np.mean(losses[-10:])) if losses else math.nan,
               "seconds": time.perf_counter() - began}
    return agent_from_learner(learner), figures, learner


def agent_from_learner(learner: Any) -> ReuseAgent:
    """The agent acting with the learner's current weights, as a service client would (numpy)."""
    return _agent(learner.updates, learner.policy_tensors())


def load_agent_tensors(path: str | Path) -> ReuseAgent:
    """The agent of a model saved by :func:`save_agent`."""
    with np.load(path) as data:
        return _agent(0, {name: data[name] for name in data.files})


def _agent(version: int, tensors: dict[str, np.ndarray]) -> ReuseAgent:
    from iroko_gym.remote.config import ActionSpec
    from iroko_gym.remote.policy import LocalPolicy
    from iroko_gym.remote.snapshots import ModelSnapshot

    snapshot = ModelSnapshot.freeze(version, tensors, {"epsilon": 0.0})
    return ReuseAgent(LocalPolicy(snapshot, "DQN", "relu", ActionSpec(n=2), np.random.default_rng(0)))


def save_agent(learner: Any, path: str | Path) -> Path:
    """The model's tensors (named as the remote service ships them) as .npz, atomically."""
    tensors = learner.policy_tensors()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **tensors)

    return atomic_write(path, write)
