"""What one server lets its clients ask for: learners, model size, memory.

Init is checked against these limits *before* anything is allocated: a model or replay buffer
that could never fit is refused as a bad request (INVALID_ARGUMENT, naming the field to
shrink); a server that is full refuses new learners with RESOURCE_EXHAUSTED. The defaults fit
a 2-core, 24 GiB machine with room to spare for the rest of it: at most 8 GiB of models,
buffers and rollouts, plus at most 256 x 16 MiB = 4 GiB of queued trajectories.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.remote.config import ActionSpec, DQNConfig, PPOConfig
from iroko_gym.validate import check_int

GiB = 1024**3
_FLOAT = 4
# Weights, gradients, Adam's two moments and the rollback copy of all three (the copy made
# before each training round), plus the published snapshots of the policy.
_COPIES_PER_PARAMETER = 7


class ServerFull(RemoteError):
    """No room for another learner now (gRPC RESOURCE_EXHAUSTED)."""


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on what clients may make the server allocate."""

    max_learners: int = 256                 # client ids with a learner
    max_model_parameters: int = 10_000_000  # per learner, all its networks together
    max_learner_bytes: int = 2 * GiB        # per learner: model, replay buffer, rollout
    max_memory_bytes: int = 8 * GiB         # all learners together
    max_queue_bytes: int = 16 * 1024**2     # per learner: received, not yet consumed

    def __post_init__(self) -> None:
        for name in ("max_learners", "max_model_parameters", "max_learner_bytes",
                     "max_memory_bytes", "max_queue_bytes"):
            check_int(name, getattr(self, name), 1)


def _mlp_parameters(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def model_parameters(params: PPOConfig | DQNConfig, obs_size: int, action: ActionSpec) -> int:
    """Parameters of every network the learner holds (PPO: actor, critic and, for a box,
    log-std; DQN: online and target Q-networks)."""
    hidden = list(params.hidden_sizes)
    if isinstance(params, DQNConfig):
        return 2 * _mlp_parameters([obs_size, *hidden, action.size])
    return (_mlp_parameters([obs_size, *hidden, action.size])
            + _mlp_parameters([obs_size, *hidden, 1]) + (0 if action.discrete else action.size))


def step_bytes(obs_size: int, action_size: int) -> int:
    """Bytes of one stored step: observation, action, reward, log-probability, mask."""
    return obs_size * _FLOAT + action_size * _FLOAT + 2 * _FLOAT + action_size


def learner_bytes(params: PPOConfig | DQNConfig, obs_size: int, action: ActionSpec,
                  keep_versions: int) -> tuple[int, int]:
    """``(parameters, bytes)`` a learner may come to hold, upper-bounded (its queue is
    bounded apart, by ``max_queue_bytes``)."""
    action_size = action.size
    parameters = model_parameters(params, obs_size, action)
    total = parameters * _FLOAT * (_COPIES_PER_PARAMETER + keep_versions)
    if isinstance(params, DQNConfig):
        # obs and next obs, action, reward, done, next mask; the checkpoint copies the ring.
        total += 2 * params.buffer_size * (2 * obs_size * _FLOAT + 8 + 2 * _FLOAT + action_size)
    else:
        # the rollout and its tensors, plus minibatch work space
        total += 3 * params.rollout_steps * step_bytes(obs_size, action_size)
    return parameters, total


def check_learner(limits: ServerLimits, params: PPOConfig | DQNConfig, obs_size: int,
                  action: ActionSpec, keep_versions: int) -> int:
    """The bytes a new learner may use; ConfigError when it can never fit."""
    parameters, total = learner_bytes(params, obs_size, action, keep_versions)
    if parameters > limits.max_model_parameters:
        raise ConfigError(
            f"the model would have {parameters:,} parameters (observation_size={obs_size}, "
            f"hidden_sizes={list(params.hidden_sizes)}, action size {action.size}); this server "
            f"allows {limits.max_model_parameters:,}: use smaller hidden_sizes or observations")
    if total > limits.max_learner_bytes:
        what = ("buffer_size" if isinstance(params, DQNConfig) else "rollout_steps")
        raise ConfigError(
            f"the learner would need up to {total / GiB:.2f} GiB; this server allows "
            f"{limits.max_learner_bytes / GiB:.2f} GiB per learner: lower {what} "
            f"(now {getattr(params, what):,}) or the observation size ({obs_size})")
    return total


def check_room(limits: ServerLimits, learners: int, used_bytes: int, new_bytes: int) -> None:
    """ServerFull when another learner of ``new_bytes`` does not fit now."""
    if learners >= limits.max_learners:
        raise ServerFull(f"the server already has {learners} learners (max_learners="
                         f"{limits.max_learners}); reuse a client_id or start another server")
    if used_bytes + new_bytes > limits.max_memory_bytes:
        raise ServerFull(
            f"a new learner of up to {new_bytes / GiB:.2f} GiB does not fit: the server's "
            f"learners may use {used_bytes / GiB:.2f} of {limits.max_memory_bytes / GiB:.2f} "
            "GiB (max_memory_bytes); use smaller models or start another server")
