"""Wire format: numpy arrays <-> ``Tensor`` messages, and validated trajectories.

Every tensor carries its dtype and shape; decoding checks both against what the receiver
expects and raises :class:`MalformedMessage` naming the field, so the server can answer
INVALID_ARGUMENT and keep serving.
"""

from __future__ import annotations

import math

import numpy as np

from iroko_gym.errors import RemoteError
from iroko_gym.remote.config import ActionSpec
from iroko_gym.remote.stubs import pb2
from iroko_gym.remote.trajectory import TrajectoryData

_DTYPES = {"float32", "float64", "int32", "int64", "bool"}


MAX_MAGNITUDE = 1e9  # observations, rewards, box actions and log-probabilities: scale beyond


class MalformedMessage(RemoteError, ValueError):
    """A value bound for a learner (a request field, or an observation or reward given to the
    client) has the wrong dtype, shape or size, or is non-finite or out of range (gRPC
    INVALID_ARGUMENT)."""


def check_values(field: str, array: np.ndarray, low: float = -MAX_MAGNITUDE,
                 high: float = MAX_MAGNITUDE) -> None:
    """Every value of ``array`` finite and within ``[low, high]``, else MalformedMessage
    naming the first bad one. One vector comparison: NaN compares false."""
    ok = (array >= low) & (array <= high)
    if not ok.all():
        index = tuple(int(i) for i in np.argwhere(~ok)[0])
        where = index[0] if len(index) == 1 else list(index)
        raise MalformedMessage(
            f"{field}[{where}]={array[index].item()!r}: values must be finite and within "
            f"[{low:g}, {high:g}]; scale them (or fix the NaN/inf at its source)")


class UnknownClient(RemoteError, KeyError):
    """No learner exists for this client id (gRPC NOT_FOUND)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown client"


def encode(array: np.ndarray) -> pb2.Tensor:
    """A ``Tensor`` message holding ``array`` (C-order, little-endian)."""
    array = np.asarray(array)
    if array.dtype.name not in _DTYPES:
        raise MalformedMessage(f"dtype {array.dtype.name} is not supported; use {sorted(_DTYPES)}")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return pb2.Tensor(dtype=array.dtype.name, shape=array.shape, data=data)


def decode(msg: pb2.Tensor, field: str, dtype: str | None = None,
           shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """The array in ``msg``; ``None`` in ``shape`` matches any length on that axis."""
    if msg.dtype not in _DTYPES:
        raise MalformedMessage(f"{field}: unknown dtype {msg.dtype!r}; use one of {sorted(_DTYPES)}")
    if dtype is not None and msg.dtype != dtype:
        raise MalformedMessage(f"{field}: dtype {msg.dtype} where {dtype} is expected")
    dims = tuple(int(d) for d in msg.shape)
    if any(d < 0 for d in dims):
        raise MalformedMessage(f"{field}: negative dimension in shape {dims}")
    if shape is not None and (len(dims) != len(shape) or any(
            want is not None and got != want for got, want in zip(dims, shape))):
        want = ", ".join("*" if s is None else str(s) for s in shape)
        want = f"({want},)" if len(shape) == 1 else f"({want})"
        raise MalformedMessage(f"{field}: shape {dims} where {want} is expected")
    np_dtype = np.dtype(msg.dtype).newbyteorder("<")
    expected = math.prod(dims) * np_dtype.itemsize  # Python ints: no overflow on absurd shapes
    if len(msg.data) != expected:
        raise MalformedMessage(f"{field}: {len(msg.data)} data bytes for shape {dims} "
                               f"{msg.dtype} (needs {expected})")
    # A private, writable copy: learners hand these arrays to torch and keep them.
    return np.frombuffer(msg.data, dtype=np_dtype).astype(msg.dtype).reshape(dims)


def encode_trajectory(traj: TrajectoryData) -> pb2.Trajectory:
    msg = pb2.Trajectory(version=traj.version, observations=encode(traj.observations),
                         actions=encode(traj.actions), rewards=encode(traj.rewards),
                         log_probs=encode(traj.log_probs), terminated=traj.terminated)
    if traj.masks is not None:
        msg.masks.CopyFrom(encode(traj.masks))
    if traj.next_observation is not None:
        msg.next_observation.CopyFrom(encode(traj.next_observation))
    return msg


def decode_trajectory(msg: pb2.Trajectory, obs_size: int, action: ActionSpec,
                      where: str) -> TrajectoryData:
    """Validate ``msg`` against the learner's spec; ``where`` names it in errors."""
    obs = decode(msg.observations, f"{where}.observations", "float32", (None, obs_size))
    steps = obs.shape[0]
    if steps == 0:
        raise MalformedMessage(f"{where}: empty trajectory (0 steps)")
    check_values(f"{where}.observations", obs)
    rewards = decode(msg.rewards, f"{where}.rewards", "float32", (steps,))
    check_values(f"{where}.rewards", rewards)
    log_probs = decode(msg.log_probs, f"{where}.log_probs", "float32", (steps,))
    # A categorical log-probability is never positive; a Gaussian density's may be.
    check_values(f"{where}.log_probs", log_probs, high=0.0 if action.discrete else MAX_MAGNITUDE)
    if action.discrete:
        actions = decode(msg.actions, f"{where}.actions", "int64", (steps,))
        if actions.min() < 0 or actions.max() >= action.size:
            raise MalformedMessage(f"{where}.actions: values outside [0, {action.size})")
    else:
        actions = decode(msg.actions, f"{where}.actions", "float32", (steps, action.size))
        check_values(f"{where}.actions", actions)
    masks = None
    if msg.HasField("masks"):
        if not action.discrete:
            raise MalformedMessage(f"{where}.masks: masks need a discrete action space")
        masks = decode(msg.masks, f"{where}.masks", "bool", (steps, action.size))
        if not masks.any(axis=1).all():
            raise MalformedMessage(f"{where}.masks: a step has no allowed action")
        taken = masks[np.arange(steps), actions]
        if not taken.all():
            step = int(np.flatnonzero(~taken)[0])
            raise MalformedMessage(f"{where}.masks[{step}] forbids the action taken there "
                                   f"(actions[{step}]={int(actions[step])})")
    next_obs = None
    if msg.HasField("next_observation"):
        next_obs = decode(msg.next_observation, f"{where}.next_observation", "float32",
                          (obs_size,))
        check_values(f"{where}.next_observation", next_obs)
    if msg.version < 0:
        raise MalformedMessage(f"{where}.version: {msg.version} is negative")
    return TrajectoryData(int(msg.version), obs, actions, rewards, log_probs, masks,
                          bool(msg.terminated), next_obs)
