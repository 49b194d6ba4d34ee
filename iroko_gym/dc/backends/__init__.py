"""Emulation backends: a ``Topology`` realised as a live network; ``backend_for`` picks the kind."""

from __future__ import annotations

from iroko_gym.dc.backends.base import Backend, require_mininet, require_root
from iroko_gym.topologies.base import Topology


def backend_for(topology: Topology) -> Backend:
    """Bridges for loop-free topologies; namespaced L3 routers with ECMP for routed ones."""
    if topology.routing is None:
        from iroko_gym.dc.backends.bridged import BridgedBackend

        return BridgedBackend(topology)
    from iroko_gym.dc.backends.routed import RoutedBackend

    return RoutedBackend(topology)


__all__ = ["Backend", "backend_for", "require_mininet", "require_root"]
