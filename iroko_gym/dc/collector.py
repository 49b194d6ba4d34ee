"""Switch-port measurements through netlink, sampled by a gevent greenlet during each step.

Queues (backlog, drops, overlimits) come from the TBF qdisc on each switch egress port
(RTM_GETQDISC dump), byte counters from RTM_GETSTATS (64-bit link stats, a much lighter dump
than RTM_GETLINK).  pyroute2 is used from greenlets without gevent monkey-patching (patching
breaks concurrent pyroute2 sockets); the greenlet runs while ``step()`` sleeps in gevent.
"""

from __future__ import annotations

import time
from typing import Sequence

import gevent
import numpy as np

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.errors import EmulationError
from iroko_gym.topologies.base import Topology


class PortCollector:
    """Samples every switch egress port of one env; windows are opened and closed by ``step()``."""

    def __init__(self, topology: Topology, port_ifnames: Sequence[str], sample_interval_s: float) -> None:
        from pyroute2 import IPRoute

        self.topology = topology
        self.sample_interval_s = sample_interval_s
        self._ipr = IPRoute()
        indices = []
        for name in port_ifnames:
            found = self._ipr.link_lookup(ifname=name)
            if not found:
                self._ipr.close()
                raise EmulationError(f"switch port {name!r} does not exist")
            indices.append(found[0])
        self._pos = {idx: i for i, idx in enumerate(indices)}
        n = len(indices)
        ports = topology.ports
        self.queue_limit = np.array([p.queue_bytes for p in ports], dtype=np.float64)
        self.port_capacity = np.array([p.capacity_mbps * 1e6 for p in ports], dtype=np.float64)
        self.host_capacity = np.array([topology.host_capacity_mbps(h.name) * 1e6 for h in topology.hosts])
        port_of = {p.peer: i for i, p in enumerate(ports) if p.peer not in topology.switch_names}
        self._host_port = np.array([port_of[h.name] for h in topology.hosts], dtype=np.int64)
        # Latest cumulative counters and the running window.
        self._backlog = np.zeros(n)
        self._drops = np.zeros(n)
        self._overlimits = np.zeros(n)
        self._sum_backlog = np.zeros(n)
        self._max_backlog = np.zeros(n)
        self._samples = 0
        self._base: tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._greenlet: gevent.Greenlet | None = None
        self.sample_count = 0

    # -- sampling -----------------------------------------------------------------------------
    def _read_queues(self) -> None:
        for msg in self._ipr.get_qdiscs():
            i = self._pos.get(msg["index"])
            if i is None or msg["parent"] != 0xFFFFFFFF:
                continue
            q = msg.get_attr("TCA_STATS2").get_attr("TCA_STATS_QUEUE")
            self._backlog[i] = q["backlog"]
            self._drops[i] = q["drops"]
            self._overlimits[i] = q["overlimits"]
        self.sample_count += 1

    def _read_bytes(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Byte counters of every port, stamped with the midpoint of their own netlink read."""
        tx = np.zeros(len(self._pos))
        rx = np.zeros(len(self._pos))
        before = time.monotonic()
        msgs = list(self._ipr.stats("dump", filter_mask=1))  # the dump runs while iterated
        stamp = (before + time.monotonic()) / 2.0
        for msg in msgs:
            i = self._pos.get(msg["ifindex"])
            if i is not None:
                s = msg.get_attr("IFLA_STATS_LINK_64")
                tx[i] = s["tx_bytes"]
                rx[i] = s["rx_bytes"]
        return stamp, tx, rx

    def _accumulate(self) -> None:
        self._read_queues()
        self._sum_backlog += self._backlog
        np.maximum(self._max_backlog, self._backlog, out=self._max_backlog)
        self._samples += 1

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.sample_interval_s)
            if self._base is not None:
                self._accumulate()

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    # -- windows --------------------------------------------------------------------------------
    def open_window(self) -> None:
        """Start summarising: baseline counters now, reset the backlog accumulators."""
        self._sum_backlog[:] = 0
        self._max_backlog[:] = 0
        self._samples = 0
        self._accumulate()
        self._base = (*self._read_bytes(), self._drops.copy(), self._overlimits.copy())

    def close_window(self, applied_rates_bps: np.ndarray) -> Snapshot:
        """Take a final sample and summarise the window opened by ``open_window``."""
        if self._base is None:
            raise EmulationError("close_window() without open_window()")
        self._accumulate()
        t1, tx, rx = self._read_bytes()
        t0, tx0, rx0, drops0, over0 = self._base
        self._base = None
        dt = max(t1 - t0, 1e-6)
        port_tx = (tx - tx0) * 8.0 / dt
        port_rx = (rx - rx0) * 8.0 / dt
        return Snapshot(
            interval_s=dt,
            port_backlog_bytes=self._sum_backlog / self._samples,
            port_backlog_max_bytes=self._max_backlog.copy(),
            port_queue_limit_bytes=self.queue_limit,
            port_drops=self._drops - drops0,
            port_overlimits=self._overlimits - over0,
            port_tx_bps=port_tx,
            port_rx_bps=port_rx,
            port_capacity_bps=self.port_capacity,
            host_tx_bps=port_rx[self._host_port],
            host_rx_bps=port_tx[self._host_port],
            host_capacity_bps=self.host_capacity,
            applied_rates_bps=np.asarray(applied_rates_bps, dtype=np.float64).copy(),
        )

    def close(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
