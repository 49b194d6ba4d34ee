"""Topology descriptions by name: ``make_topology("dumbbell", hosts_per_side=2)``."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from iroko_gym.validate import check_choice, check_known_keys
from iroko_gym.topologies.base import HostSpec, LinkSpec, PortSpec, Route, Routing, SwitchSpec, Topology
from iroko_gym.topologies.dumbbell import dumbbell
from iroko_gym.topologies.fattree import fattree
from iroko_gym.topologies.nonblock import nonblock

TOPOLOGIES: dict[str, Callable[..., Topology]] = {"dumbbell": dumbbell, "fattree": fattree, "nonblock": nonblock}


def make_topology(name: str, **params: Any) -> Topology:
    """Build a topology description by name; unknown names and parameters raise ConfigError."""
    factory = TOPOLOGIES[check_choice("topology", name, TOPOLOGIES)]
    check_known_keys(f"parameter(s) of topology {name!r}:", params, inspect.signature(factory).parameters)
    return factory(**params)


__all__ = ["HostSpec", "LinkSpec", "PortSpec", "Route", "Routing", "SwitchSpec", "Topology", "TOPOLOGIES", "make_topology"]
