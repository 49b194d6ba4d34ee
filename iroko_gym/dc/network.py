"""The live side of a DCEnv: emulated network + rate control + collectors + traffic, as one unit.

``DCEnv`` talks only to the ``Network`` protocol below, so its logic is unit-tested on a fake
(``iroko_gym.dc.fake``) and runs unchanged on the real emulation (``EmulatedNetwork``).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from iroko_gym.atomic import atomic_write_text
from iroko_gym.dc.backends import backend_for
from iroko_gym.dc.config import DCConfig
from iroko_gym.dc.outdir import OutputDirClaim
from iroko_gym.dc.registry import tagged_environ
from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.traffic.flow_results import FlowResults
from iroko_gym.dc.traffic.goben import goben_binary
from iroko_gym.dc.traffic.pattern import TrafficPattern
from iroko_gym.topologies.base import Topology

log = logging.getLogger(__name__)


class Network(Protocol):
    """What DCEnv needs from a running network."""

    prefix: str
    output_dir: Path

    def start_episode(self, pattern: TrafficPattern) -> Path: ...
    def apply_rates(self, rates_bps: np.ndarray) -> float: ...
    def open_window(self) -> None: ...
    def wait_until(self, deadline: float, busy: bool = False) -> None: ...
    def warm_up(self) -> None: ...
    def close_window(self) -> Snapshot: ...
    def rates_in_force_bps(self) -> np.ndarray: ...
    def traffic_running(self) -> bool: ...
    def stop_episode(self) -> FlowResults: ...
    def socket_stats(self) -> list[dict]: ...
    def close(self) -> None: ...


def default_output_dir(prefix: str) -> Path:
    # "iroko-gym", not "iroko_gym": a directory named like the package in /tmp would shadow it
    # (as a namespace package) for any script run from /tmp.
    return Path(tempfile.gettempdir()) / "iroko-gym" / prefix


class EmulatedNetwork:
    """Mininet backend + C traffic manager + netlink collector + goben traffic, started together."""

    def __init__(self, topology: Topology, config: DCConfig) -> None:
        from iroko_gym.dc.collector import PortCollector
        from iroko_gym.dc.traffic_manager import TrafficManager, traffic_manager_binary
        from iroko_gym.dc.sockstats import SocketStatsReader
        from iroko_gym.dc.traffic.runner import TrafficRunner

        # Fail before anything is built: missing pieces first (with their install step), then
        # (in the backend's own check) Mininet and root.
        goben_binary()
        if config.rate_control:
            traffic_manager_binary()
        # A given output_dir is claimed before anything is built (the per-prefix default is
        # free by construction and claimed once the prefix exists).
        self._claim = OutputDirClaim(Path(config.output_dir)) if config.output_dir else None
        self._backend = backend_for(topology)
        try:
            self._backend.start()
        except BaseException:
            if self._claim is not None:
                self._claim.close()
            raise
        self._tm: TrafficManager | None = None
        self._collector: PortCollector | None = None
        self._traffic: TrafficRunner | None = None
        self._sockets: SocketStatsReader | None = None
        self._topology = topology
        self._unlimited_bps = np.array([int(topology.host_capacity_mbps(h.name) * 1e6) for h in topology.hosts])
        self._episode_dir: Path | None = None
        self._pattern: TrafficPattern | None = None
        try:
            self.prefix = self._backend.prefix
            if self._claim is None:
                self._claim = OutputDirClaim(default_output_dir(self.prefix))
            self._claim.label(f"env {self.prefix}")
            self.output_dir = self._claim.path
            self._traffic = TrafficRunner(
                topology, self._backend, self.output_dir, port=config.port, transport=config.transport,
                congestion_control=config.congestion_control, duration_s=config.traffic_duration_s,
            )
            if config.rate_control:
                targets = [(self._backend.host_netns_path(h.name), self._backend.host_intf(h.name)) for h in topology.hosts]
                initial = int(max(topology.host_capacity_mbps(h.name) for h in topology.hosts) * 1e6)
                self._tm = TrafficManager(targets, initial, environ=tagged_environ(self.prefix))
                self._backend.own.add_process(self._tm.pid)
            self._collector = PortCollector(topology, self._backend.port_ifnames, config.sample_interval_ms / 1000.0,
                                             self._backend.port_netns_paths)
            self._collector.start()
            if config.socket_stats:
                self._sockets = SocketStatsReader(
                    [(h.name, self._backend.host_netns_path(h.name)) for h in topology.hosts], config.port)
            self._traffic.start_servers()
        except BaseException:
            self.close()
            raise

    def start_episode(self, pattern: TrafficPattern) -> Path:
        self._episode_dir = self._traffic.start_episode(pattern)
        self._pattern = pattern
        return self._episode_dir

    def apply_rates(self, rates_bps: np.ndarray) -> float:
        return 0.0 if self._tm is None else self._tm.set_rates(rates_bps)

    def open_window(self) -> None:
        self._collector.open_window()

    def wait_until(self, deadline: float, busy: bool = False) -> None:
        self._collector.wait_until(deadline, busy)

    def warm_up(self) -> None:
        """Rehearse the closing reads of the window (nothing is kept): see ``DCConfig.warm_up_ms``."""
        self._collector.warm_up()

    def close_window(self) -> Snapshot:
        return self._collector.close_window()

    def rates_in_force_bps(self) -> np.ndarray:
        """Each host's sending-rate limit as the traffic manager acknowledged it (no manager: link rate)."""
        return self._tm.applied_rates_bps if self._tm is not None else self._unlimited_bps.copy()

    def traffic_running(self) -> bool:
        return self._traffic.poll()

    def socket_stats(self) -> list[dict]:
        """Kernel stats of every sending TCP connection now (empty unless ``socket_stats=True``)."""
        return [] if self._sockets is None else [s.as_dict() for s in self._sockets.read()]

    def stop_episode(self) -> FlowResults:
        """Stop the episode's traffic; its flow results are returned and written to ``flows.json``."""
        records = self._traffic.stop_episode()
        results = FlowResults.of(records, self._topology, self._pattern)
        if self._episode_dir is not None:
            atomic_write_text(self._episode_dir / "flows.json", json.dumps(results.to_json(), indent=1) + "\n")
            self._episode_dir = None
        return results

    def close(self) -> None:
        """Stop traffic, rate control and collectors, then tear the network down. Idempotent."""
        for part in (self._traffic, self._tm, self._collector, self._sockets):
            if part is not None:
                try:
                    part.close()
                except Exception as exc:  # noqa: BLE001 - the backend's ownership record removes what is left
                    log.warning("env %s: closing %s failed (%s); the ownership record removes what is left",
                                self.prefix, type(part).__name__, exc)
        self._traffic = self._tm = self._collector = self._sockets = None
        self._backend.close()
        if self._claim is not None:
            self._claim.close()
