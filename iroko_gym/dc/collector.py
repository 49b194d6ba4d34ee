"""Switch-port measurements through netlink, sampled by a gevent greenlet during each step.

Queues (backlog, drops, overlimits) come from the TBF qdisc on each switch egress port
(RTM_GETQDISC dump), byte counters from RTM_GETSTATS (64-bit link stats, a much lighter dump
than RTM_GETLINK).  Ports are grouped by network namespace (the root namespace for bridges, one
per router in a fat-tree) with one ``NetlinkStats`` socket per namespace, so one sample is two
dumps per namespace.  Sockets are used from greenlets without gevent monkey-patching; the
greenlet runs while ``step()`` sleeps in gevent (:meth:`PortCollector.wait_until`).
"""

from __future__ import annotations

import time
from typing import Sequence

import gevent
import numpy as np

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.nlstats import NetlinkStats
from iroko_gym.errors import EmulationError
from iroko_gym.topologies.base import Topology


#: gevent's hub wakes through epoll_wait, whose timeout is whole milliseconds, rounded up: a
#: gevent sleep overshoots by up to 1 ms (measured p50 ~1 ms at 10 ms steps).  The last
#: ``WAKE_SLACK_S`` before a deadline are slept with ``time.sleep`` (nanosleep, ~0.1 ms precise).
WAKE_SLACK_S = 0.002


class PortCollector:
    """Samples every switch egress port of one env; windows are opened and closed by ``step()``."""

    def __init__(self, topology: Topology, port_ifnames: Sequence[str], sample_interval_s: float,
                 port_netns: Sequence[str | None] | None = None) -> None:
        self.topology = topology
        self.sample_interval_s = sample_interval_s
        netns = list(port_netns) if port_netns is not None else [None] * len(port_ifnames)
        # One socket per namespace; positions map (namespace group, ifindex) -> port index.
        self._groups: list[tuple[NetlinkStats, dict[int, int]]] = []
        try:
            for path in dict.fromkeys(netns):
                members = [i for i, p in enumerate(netns) if p == path]
                sock = NetlinkStats(path)
                self._groups.append((sock, {}))
                indices = sock.ifindices([port_ifnames[i] for i in members])
                self._groups[-1][1].update(zip(indices, members))
        except BaseException:
            self._close_sockets()
            raise
        n = len(port_ifnames)
        self._n = n
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

    # -- sampling -----------------------------------------------------------------------------
    def _read_queues(self) -> None:
        for sock, pos in self._groups:
            for ifindex, backlog, drops, overlimits in sock.queues():
                i = pos.get(ifindex)
                if i is not None:
                    self._backlog[i] = backlog
                    self._drops[i] = drops
                    self._overlimits[i] = overlimits

    def _read_bytes(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Byte counters of every port, stamped with the midpoint of their own netlink reads."""
        tx = np.zeros(self._n)
        rx = np.zeros(self._n)
        before = time.monotonic()
        for sock, pos in self._groups:
            for ifindex, tx_bytes, rx_bytes in sock.link_bytes():
                i = pos.get(ifindex)
                if i is not None:
                    tx[i] = tx_bytes
                    rx[i] = rx_bytes
        return (before + time.monotonic()) / 2.0, tx, rx

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

    def wait_until(self, deadline: float, busy: bool = False) -> None:
        """Sleep until ``time.monotonic()`` reaches ``deadline``, sampling meanwhile.

        gevent sleeps (so the sampling greenlet runs) until ``WAKE_SLACK_S`` before the deadline,
        then a precise ``time.sleep`` ends on time; no sample falls in those last 2 ms (the
        window's closing sample is taken right after).  ``busy``: spin instead, sampling nothing
        (for the short wait after ``DCConfig.warm_up_ms``'s rehearsal).
        """
        if busy:
            while time.monotonic() < deadline:
                pass
            return
        coarse = deadline - WAKE_SLACK_S - time.monotonic()
        if coarse > 0:
            gevent.sleep(coarse)
        remaining = deadline - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    def warm_up(self) -> None:
        """Run the closing reads (queue stats and byte counters of every port), keeping nothing."""
        for sock, _ in self._groups:
            for _ in sock.queues():
                pass
            for _ in sock.link_bytes():
                pass

    # -- windows --------------------------------------------------------------------------------
    def open_window(self) -> None:
        """Start summarising: baseline counters now, reset the backlog accumulators."""
        self._sum_backlog[:] = 0
        self._max_backlog[:] = 0
        self._samples = 0
        self._accumulate()
        self._base = (*self._read_bytes(), self._drops.copy(), self._overlimits.copy())

    def close_window(self) -> Snapshot:
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
        )

    def _close_sockets(self) -> None:
        for sock, _ in self._groups:
            sock.close()
        self._groups = []

    def close(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        self._close_sockets()
