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


class MalformedMessage(RemoteError, ValueError):
    """A request field has the wrong dtype, shape or size (gRPC INVALID_ARGUMENT)."""


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
    if action.discrete:
        actions = decode(msg.actions, f"{where}.actions", "int64", (steps,))
        if actions.min() < 0 or actions.max() >= action.size:
            raise MalformedMessage(f"{where}.actions: values outside [0, {action.size})")
    else:
        actions = decode(msg.actions, f"{where}.actions", "float32", (steps, action.size))
    rewards = decode(msg.rewards, f"{where}.rewards", "float32", (steps,))
    log_probs = decode(msg.log_probs, f"{where}.log_probs", "float32", (steps,))
    masks = None
    if msg.HasField("masks"):
        if not action.discrete:
            raise MalformedMessage(f"{where}.masks: masks need a discrete action space")
        masks = decode(msg.masks, f"{where}.masks", "bool", (steps, action.size))
        if not masks.any(axis=1).all():
            raise MalformedMessage(f"{where}.masks: a step has no allowed action")
    next_obs = None
    if msg.HasField("next_observation"):
        next_obs = decode(msg.next_observation, f"{where}.next_observation", "float32",
                          (obs_size,))
    for name, arr in (("observations", obs), ("rewards", rewards), ("actions", actions)):
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise MalformedMessage(f"{where}.{name}: non-finite values")
    if msg.version < 0:
        raise MalformedMessage(f"{where}.version: {msg.version} is negative")
    return TrajectoryData(int(msg.version), obs, actions, rewards, log_probs, masks,
                          bool(msg.terminated), next_obs)
