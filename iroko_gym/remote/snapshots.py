"""Immutable model snapshots, their version history, and diffs between them.

Diff format: per tensor, only what changed since the base version — a tensor whose elements
changed in place (bitwise comparison) is sent as flat indices plus new values when that is
smaller than the tensor, else whole; unchanged tensors are omitted. Values are replaced, never
added, so a client that applies a diff holds bit-identical weights to the server's snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from iroko_gym.errors import RemoteError
from iroko_gym.remote.protocol import decode, encode
from iroko_gym.remote.stubs import pb2


@dataclass(frozen=True)
class ModelSnapshot:
    """One model version: read-only named tensors plus scalars (e.g. epsilon)."""

    version: int
    tensors: Mapping[str, np.ndarray]
    scalars: Mapping[str, float]

    @classmethod
    def freeze(cls, version: int, tensors: Mapping[str, np.ndarray],
               scalars: Mapping[str, float] | None = None) -> ModelSnapshot:
        """Copy ``tensors`` into read-only arrays so that the snapshot cannot change."""
        frozen = {}
        for name, value in tensors.items():
            array = np.array(value, copy=True)
            array.setflags(write=False)
            frozen[name] = array
        return cls(version, MappingProxyType(frozen),
                   MappingProxyType({k: float(v) for k, v in (scalars or {}).items()}))


def _bits(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1).view(f"u{array.dtype.itemsize}") if array.dtype.kind == "f" \
        else array.reshape(-1)


def update_message(new: ModelSnapshot, base: ModelSnapshot | None = None) -> pb2.ModelUpdate:
    """``new`` as a full model (``base`` None) or as the changes since ``base``."""
    msg = pb2.ModelUpdate(version=new.version, scalars=dict(new.scalars))
    if base is None or set(base.tensors) != set(new.tensors):
        msg.full = True
        for name, array in new.tensors.items():
            msg.tensors[name].CopyFrom(encode(array))
        return msg
    msg.base_version = base.version
    for name, array in new.tensors.items():
        old = base.tensors[name]
        if old.shape != array.shape or old.dtype != array.dtype:
            msg.tensors[name].CopyFrom(encode(array))
            continue
        changed = np.flatnonzero(_bits(old) != _bits(array))
        if changed.size == 0:
            continue
        if changed.size * (8 + array.dtype.itemsize) >= array.nbytes:
            msg.tensors[name].CopyFrom(encode(array))
        else:
            sparse = msg.sparse[name]
            sparse.indices.CopyFrom(encode(changed.astype(np.int64)))
            sparse.values.CopyFrom(encode(array.reshape(-1)[changed]))
    return msg


def apply_update(current: ModelSnapshot | None, msg: pb2.ModelUpdate) -> ModelSnapshot:
    """The snapshot obtained by applying ``msg`` to ``current`` (which is left untouched)."""
    if msg.full:
        tensors = {name: decode(t, f"model.{name}") for name, t in msg.tensors.items()}
        return ModelSnapshot.freeze(msg.version, tensors, msg.scalars)
    if current is None or current.version != msg.base_version:
        have = None if current is None else current.version
        raise RemoteError(f"diff to version {msg.version} is based on {msg.base_version}, "
                          f"but the client holds {have}")
    tensors = dict(current.tensors)
    for name, t in msg.tensors.items():
        tensors[name] = decode(t, f"model.{name}")
    for name, sparse in msg.sparse.items():
        if name not in tensors:
            raise RemoteError(f"diff names tensor {name!r} that the client does not hold")
        array = tensors[name].copy()
        flat = array.reshape(-1)
        flat[decode(sparse.indices, f"model.{name}.indices", "int64")] = \
            decode(sparse.values, f"model.{name}.values", array.dtype.name)
        tensors[name] = array
    return ModelSnapshot.freeze(msg.version, tensors, msg.scalars)


class VersionHistory:
    """The last ``keep`` snapshots of one learner; thread-safe, versions strictly increase."""

    def __init__(self, keep: int = 8, cache_size: int = 32) -> None:
        if keep < 1:
            raise RemoteError(f"keep={keep}: keep at least one version")
        self._keep = keep
        self._snapshots: OrderedDict[int, ModelSnapshot] = OrderedDict()
        self._encoded: OrderedDict[tuple[int, int], pb2.ModelUpdate] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def publish(self, tensors: Mapping[str, np.ndarray], scalars: Mapping[str, float],
                version: int | None = None) -> ModelSnapshot:
        """Freeze and append the next version (or an explicit one, when restoring)."""
        with self._lock:
            latest = next(reversed(self._snapshots), 0) if self._snapshots else 0
            number = latest + 1 if version is None else version
            if number <= latest:
                raise RemoteError(f"version {number} is not newer than {latest}")
            snap = ModelSnapshot.freeze(number, tensors, scalars)
            self._snapshots[number] = snap
            while len(self._snapshots) > self._keep:
                self._snapshots.popitem(last=False)
            return snap

    @property
    def latest(self) -> ModelSnapshot:
        with self._lock:
            return self._snapshots[next(reversed(self._snapshots))]

    def get(self, version: int) -> ModelSnapshot | None:
        with self._lock:
            return self._snapshots.get(version)

    def update_for(self, have_version: int) -> pb2.ModelUpdate | None:
        """What a client holding ``have_version`` needs: None, a diff, or the full model."""
        latest = self.latest
        if have_version == latest.version:
            return None
        base = self.get(have_version) if 0 < have_version < latest.version else None
        key = (base.version if base else 0, latest.version)
        with self._lock:
            cached = self._encoded.get(key)
        if cached is None:
            cached = update_message(latest, base)
            with self._lock:
                self._encoded[key] = cached
                while len(self._encoded) > self._cache_size:
                    self._encoded.popitem(last=False)
        return cached
