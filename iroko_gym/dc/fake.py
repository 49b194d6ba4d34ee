"""A fake network for unit tests of DCEnv's logic: no root, no processes, virtual time.

It is NOT an emulation of anything: a fluid toy where every host's traffic crosses the first
switch port, whose queue grows by the excess of the summed sending rates over its capacity.
It exists so that the Gymnasium contract (spaces, seeding, truncation, termination, errors)
can be checked in milliseconds; behaviour on real packets is tested in tests/emulation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from iroko_gym.dc.config import DCConfig
from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.traffic.flow_results import FlowResults
from iroko_gym.dc.traffic.pattern import TrafficPattern
from iroko_gym.topologies.base import Topology


class FakeNetwork:
    """Implements the ``Network`` protocol of ``iroko_gym.dc.network`` without a network."""

    def __init__(self, topology: Topology, config: DCConfig, *, traffic_steps: int | None = None) -> None:
        self.topology = topology
        self.config = config
        self.prefix = "fake"
        # Named like a real network's, never created: the fake writes no file (a directory made
        # here would outlive every test that builds one).
        self.output_dir = Path(config.output_dir or Path(tempfile.gettempdir()) / "iroko-fake")
        self.traffic_steps = traffic_steps
        ports = topology.ports
        self._limit = np.array([p.queue_bytes for p in ports], dtype=float)
        self._port_cap = np.array([p.capacity_mbps * 1e6 for p in ports])
        self._host_cap = np.array([topology.host_capacity_mbps(h.name) * 1e6 for h in topology.hosts])
        self._backlog = np.zeros(len(ports))
        self._rates = self._host_cap.copy()
        self._steps_left: int | None = None
        self.closed = False
        self.episodes = 0
        self.warm_ups = 0

    def start_episode(self, pattern: TrafficPattern) -> Path:
        self.episodes += 1
        self._steps_left = self.traffic_steps
        self._backlog[:] = 0
        return self.output_dir / f"episode-{self.episodes:04d}"

    def apply_rates(self, rates_bps: np.ndarray) -> float:
        self._rates = np.asarray(rates_bps, dtype=float)
        return 0.0

    def open_window(self) -> None:
        pass

    def wait_until(self, deadline: float, busy: bool = False) -> None:
        pass  # virtual time: one interval passes instantly

    def warm_up(self) -> None:
        self.warm_ups += 1  # nothing to read; counted so tests can see the env rehearse

    def close_window(self) -> Snapshot:
        dt = self.config.step_interval_ms / 1000.0
        offered = float(self._rates.sum())
        excess_bytes = (offered - self._port_cap[0]) * dt / 8.0
        before = self._backlog[0]
        self._backlog[0] = min(max(before + excess_bytes, 0.0), self._limit[0])
        drops = np.zeros_like(self._backlog)
        drops[0] = max(before + excess_bytes - self._limit[0], 0.0) // 1500
        delivered = min(offered, self._port_cap[0])
        tx = np.zeros_like(self._backlog)
        tx[0] = delivered
        share = self._rates / offered if offered > 0 else np.zeros_like(self._rates)
        if self._steps_left is not None:
            self._steps_left -= 1
        return Snapshot(dt, self._backlog.copy(), self._backlog.copy(), self._limit, drops, drops.copy(), tx, tx.copy(),
                        self._port_cap, share * delivered, share * delivered, self._host_cap)

    def rates_in_force_bps(self) -> np.ndarray:
        return self._rates.copy()

    def traffic_running(self) -> bool:
        return self._steps_left is None or self._steps_left > 0

    def stop_episode(self) -> FlowResults:
        self._steps_left = 0
        return FlowResults.of([], self.topology)

    def socket_stats(self) -> list[dict]:
        return []

    def close(self) -> None:
        self.closed = True
