"""What the collectors measured over one step interval, as plain arrays.

``Snapshot`` is the single input of reward functions and of the observation builder, so both
can be unit-tested on hand-made values without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Snapshot:
    """Measurements summarising one step interval.

    Port arrays have one entry per switch egress port in ``Topology.ports`` order; host arrays
    one entry per host in ``Topology.hosts`` order.  Rates are bit/s, queues bytes, drops and
    overlimits packets counted during the interval.
    """

    interval_s: float
    port_backlog_bytes: np.ndarray  # mean backlog over the interval
    port_backlog_max_bytes: np.ndarray  # largest sampled backlog
    port_queue_limit_bytes: np.ndarray  # configured FIFO bound
    port_drops: np.ndarray
    port_overlimits: np.ndarray
    port_tx_bps: np.ndarray  # egress throughput of the port
    port_rx_bps: np.ndarray  # ingress throughput of the port (what its peer sent)
    port_capacity_bps: np.ndarray
    host_tx_bps: np.ndarray  # what each host sent (measured at its switch port)
    host_rx_bps: np.ndarray  # what was delivered to each host
    host_capacity_bps: np.ndarray

    @cached_property  # the observation reads it twice (backlog, d_backlog) and the reward once
    def queue_fraction(self) -> np.ndarray:
        """Mean backlog of each port as a fraction of its bound, in [0, 1]."""
        return np.clip(self.port_backlog_bytes / self.port_queue_limit_bytes, 0.0, 1.0)

    @classmethod
    def zeros(cls, num_ports: int, num_hosts: int, *, queue_limit_bytes: np.ndarray, port_capacity_bps: np.ndarray,
              host_capacity_bps: np.ndarray, interval_s: float = 0.0) -> Snapshot:
        """An all-quiet snapshot (used for the observation returned by ``reset``)."""
        zp, zh = np.zeros(num_ports), np.zeros(num_hosts)
        return cls(interval_s, zp, zp, queue_limit_bytes, zp, zp, zp, zp, port_capacity_bps, zh, zh,
                   host_capacity_bps)
