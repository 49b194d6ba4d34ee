"""Observation assembly: per-port features over the interval, then the rates in force.

Layout (``ObservationBuilder.layout`` gives it programmatically): port-major blocks, one per
switch egress port in ``Topology.ports`` order, each holding the ``state_model`` features in
the configured order; then one entry per host with the sending fraction in force.  Every entry
is normalised to [0, 1] (``d_backlog`` to [-1, 1]).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from gymnasium import spaces

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.topologies.base import MTU_BYTES


def _packets_per_interval(snap: Snapshot) -> np.ndarray:
    """How many full-size packets each port could send in the interval (normaliser of counts)."""
    return np.maximum(snap.port_capacity_bps * snap.interval_s / 8.0 / MTU_BYTES, 1.0)


FEATURES = {
    "backlog": lambda s, prev: s.queue_fraction,
    "backlog_max": lambda s, prev: np.clip(s.port_backlog_max_bytes / s.port_queue_limit_bytes, 0.0, 1.0),
    "d_backlog": lambda s, prev: np.clip(s.queue_fraction - prev.queue_fraction, -1.0, 1.0),
    "drops": lambda s, prev: np.clip(s.port_drops / _packets_per_interval(s), 0.0, 1.0),
    "overlimits": lambda s, prev: np.clip(s.port_overlimits / _packets_per_interval(s), 0.0, 1.0),
    "bw_rx": lambda s, prev: np.clip(s.port_rx_bps / s.port_capacity_bps, 0.0, 1.0),
    "bw_tx": lambda s, prev: np.clip(s.port_tx_bps / s.port_capacity_bps, 0.0, 1.0),
}


class ObservationBuilder:
    """Turns snapshots into fixed-shape float32 vectors into one preallocated buffer."""

    def __init__(self, state_model: Sequence[str], port_names: Sequence[str], host_names: Sequence[str]) -> None:
        self.state_model = tuple(state_model)
        self.port_names = tuple(port_names)
        self.host_names = tuple(host_names)
        nf, npo, nh = len(self.state_model), len(self.port_names), len(self.host_names)
        self._port_block = np.zeros((npo, nf), dtype=np.float32)
        low = np.zeros(npo * nf + nh, dtype=np.float32)
        for j, feat in enumerate(self.state_model):
            if feat == "d_backlog":
                low[j : npo * nf : nf] = -1.0
        self.space = spaces.Box(low=low, high=np.ones_like(low), dtype=np.float32)
        self._prev: Snapshot | None = None

    @property
    def layout(self) -> list[str]:
        """Name of each observation entry, e.g. ``"port i3f2s1-eth1 backlog"`` or ``"host h1 rate"``."""
        names = [f"port {p} {f}" for p in self.port_names for f in self.state_model]
        return names + [f"host {h} rate" for h in self.host_names]

    def reset(self) -> None:
        self._prev = None

    def build(self, snap: Snapshot, fractions: np.ndarray) -> np.ndarray:
        """Observation for ``snap``; ``fractions`` are the sending fractions in force."""
        prev = snap if self._prev is None else self._prev
        for j, feat in enumerate(self.state_model):
            self._port_block[:, j] = FEATURES[feat](snap, prev)
        self._prev = snap
        obs = np.concatenate([self._port_block.ravel(), np.asarray(fractions, dtype=np.float32)])
        return np.clip(obs, self.space.low, self.space.high)
