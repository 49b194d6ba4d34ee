"""The traffic data model: a :class:`Flow` (who sends what, when) and a :class:`TrafficPattern`.

A pattern is an immutable, named, seeded tuple of flows plus the parameters that generated it
(JSON values, so that a saved file compares equal).  Generators live in :mod:`.patterns`, the
CSV/JSON file formats in :mod:`.pattern_files`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iroko_gym.errors import ConfigError
from iroko_gym.validate import check_int, check_real, did_you_mean


@dataclass(frozen=True)
class Flow:
    """One flow from host ``src`` to host ``dst`` (local names such as ``"h1"``).

    ``start_s`` is the offset from the start of the episode's traffic; ``size_bytes == 0`` means
    long-lived (the flow runs until the traffic ends).
    """

    src: str
    dst: str
    start_s: float = 0.0
    size_bytes: int = 0

    def __post_init__(self) -> None:
        for side in ("src", "dst"):
            value = getattr(self, side)
            if not isinstance(value, str) or not value.strip() or value != value.strip():
                raise ConfigError(f"flow {side}={value!r}: must be a host name without surrounding spaces")
        if self.src == self.dst:
            raise ConfigError(f"flow {self.src}->{self.dst}: a host cannot send to itself")
        where = f"flow {self.src}->{self.dst}:"
        object.__setattr__(self, "start_s", check_real(f"{where} start_s", self.start_s, low=0))
        object.__setattr__(self, "size_bytes", check_int(f"{where} size_bytes", self.size_bytes, 0))


@dataclass(frozen=True)
class TrafficPattern:
    """A named, seeded set of flows plus the parameters that generated it (JSON-compatible)."""

    name: str
    flows: tuple[Flow, ...]
    seed: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name.splitlines()) != 1:
            raise ConfigError(f"traffic pattern name {self.name!r}: must be a non-empty one-line string")
        flows = tuple(self.flows)
        bad = next((f for f in flows if not isinstance(f, Flow)), None)
        if bad is not None:
            raise ConfigError(f"traffic pattern {self.name!r}: {bad!r} is not a Flow")
        seed = None if self.seed is None else check_int(f"traffic pattern {self.name!r}: seed", self.seed, 0)
        object.__setattr__(self, "flows", flows)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "params", _json_params(self.name, self.params))

    @property
    def senders(self) -> tuple[str, ...]:
        """Hosts that send at least one flow, in order of first appearance."""
        return tuple(dict.fromkeys(f.src for f in self.flows))

    @property
    def receivers(self) -> tuple[str, ...]:
        """Hosts that receive at least one flow, in order of first appearance."""
        return tuple(dict.fromkeys(f.dst for f in self.flows))

    def validate(self, host_names: Collection[str]) -> None:
        """Raise ConfigError if a flow names a host outside ``host_names`` (with a suggestion)."""
        known = list(host_names)
        for i, flow in enumerate(self.flows):
            for side in ("src", "dst"):
                problem = unknown_host(getattr(flow, side), known)
                if problem:
                    raise ConfigError(f"traffic pattern {self.name!r}: flow #{i + 1} ({flow.src}->{flow.dst}) {side}: {problem}")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the pattern as CSV or JSON (by extension), atomically (see ``pattern_files``)."""
        from iroko_gym.dc.traffic.pattern_files import save_pattern

        save_pattern(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], host_names: Collection[str] | None = None) -> TrafficPattern:
        """Read a pattern written by :meth:`save` (or by hand); TraceError names file, row, field.

        With ``host_names``, a flow naming another host is rejected too.
        """
        from iroko_gym.dc.traffic.pattern_files import load_pattern

        return load_pattern(path, host_names)


def _json_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as plain JSON values (tuples become lists) so that saved files compare equal."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"traffic pattern {name!r}: params {params!r} must be a mapping")
    try:
        return json.loads(json.dumps(dict(params), default=_numpy_scalar, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"traffic pattern {name!r}: params {dict(params)!r} must be JSON values ({exc})") from exc


def _numpy_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a JSON value")


def unknown_host(name: str, known: list[str]) -> str | None:
    """None if ``name`` is a known host, else a message with a suggestion."""
    if name in known:
        return None
    hint = did_you_mean(name, known, cutoff=0.5)  # short names: "h9" ~ "h1"
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown host {name!r}{hint}; hosts are {shown}"
