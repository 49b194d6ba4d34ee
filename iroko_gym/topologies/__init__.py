"""Topology descriptions by name: ``make_topology("dumbbell", hosts_per_side=2)``."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from iroko_gym.errors import ConfigError
from iroko_gym.topologies.base import HostSpec, LinkSpec, PortSpec, Route, Routing, SwitchSpec, Topology
from iroko_gym.topologies.dumbbell import dumbbell
from iroko_gym.topologies.fattree import fattree
from iroko_gym.topologies.nonblock import nonblock

TOPOLOGIES: dict[str, Callable[..., Topology]] = {"dumbbell": dumbbell, "fattree": fattree, "nonblock": nonblock}


def make_topology(name: str, **params: Any) -> Topology:
    """Build a topology description by name; unknown names and parameters raise ConfigError."""
    try:
        factory = TOPOLOGIES[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), TOPOLOGIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown topology {name!r}{hint}; known: {sorted(TOPOLOGIES)}") from None
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"topology {name!r} does not take {unknown}; it takes {sorted(accepted)}")
    return factory(**params)


__all__ = ["HostSpec", "LinkSpec", "PortSpec", "Route", "Routing", "SwitchSpec", "Topology", "TOPOLOGIES", "make_topology"]
