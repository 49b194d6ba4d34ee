"""Topology descriptions: immutable data, realised into a live network by one backend.

A topology names its nodes locally (``h1``, ``s1``); the backend prepends the per-env prefix.
Every switch port (one per link end on a switch) gets a bounded FIFO egress queue and the link
rate, so the port list below is also the layout of the per-port observation features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from iroko_gym.errors import ConfigError

MTU_BYTES = 1500


@dataclass(frozen=True)
class HostSpec:
    """One end host: local name, index in action/throughput vectors, IPv4 address."""

    name: str
    index: int
    ip: str
    pod: int = 0
    edge: int = 0


@dataclass(frozen=True)
class SwitchSpec:
    """One switch; ``tier`` is informative (``edge``, ``agg``, ``core``, ``bridge``)."""

    name: str
    tier: str = "bridge"
    pod: int = -1


@dataclass(frozen=True)
class LinkSpec:
    """A full-duplex link between two nodes with its capacity and per-port queue bound."""

    a: str
    b: str
    capacity_mbps: float
    queue_bytes: int


@dataclass(frozen=True)
class PortSpec:
    """The egress side of a link end that sits on a switch.

    ``intf_index`` is the interface number on that switch (``<switch>-eth<intf_index>``; switch
    interfaces count from 1 and host interfaces from 0, as in Mininet), ``peer`` the node at
    the other end of the link.
    """

    switch: str
    intf_index: int
    peer: str
    capacity_mbps: float
    queue_bytes: int

    @property
    def local_intf(self) -> str:
        return f"{self.switch}-eth{self.intf_index}"


@dataclass(frozen=True)
class Route:
    """One routing-table entry of ``node``: ``dst`` (CIDR) via one or more neighbours (ECMP)."""

    node: str
    dst: str
    via: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    """IP plan of a routed topology: every link end's address and every node's routes.

    ``link_addrs[i]`` holds the CIDR addresses (``"10.0.0.1/31"``) of the ``a`` and ``b`` end of
    ``Topology.links[i]``.  Routes name next hops by neighbour node; the backend resolves them to
    the neighbour's address on the shared link.  Directly connected subnets need no route.
    """

    link_addrs: tuple[tuple[str, str], ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Topology:
    """Nodes, links, capacities, queue sizes and the IP plan of an emulated network."""

    name: str
    hosts: tuple[HostSpec, ...]
    switches: tuple[SwitchSpec, ...]
    links: tuple[LinkSpec, ...]
    params: dict = field(default_factory=dict, compare=False)
    routing: Routing | None = None
    """None: switches are L2 bridges (loop-free topologies); else switches are L3 routers."""

    def __post_init__(self) -> None:
        names = [h.name for h in self.hosts] + [s.name for s in self.switches]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"topology {self.name!r}: duplicate node names {dupes}")
        known = set(names)
        for link in self.links:
            for end in (link.a, link.b):
                if end not in known:
                    raise ConfigError(f"topology {self.name!r}: link {link.a}-{link.b} names unknown node {end!r}")
            if link.capacity_mbps <= 0:
                raise ConfigError(f"topology {self.name!r}: link {link.a}-{link.b} capacity {link.capacity_mbps} Mbit/s must be > 0")
            if link.queue_bytes < 2 * MTU_BYTES:
                raise ConfigError(
                    f"topology {self.name!r}: link {link.a}-{link.b} queue {link.queue_bytes} B is below two packets ({2 * MTU_BYTES} B)"
                )
        if [h.index for h in self.hosts] != list(range(len(self.hosts))):
            raise ConfigError(f"topology {self.name!r}: host indices must be 0..{len(self.hosts) - 1} in order")
        if self.routing is not None:
            self._check_routing(self.routing, known)

    def _check_routing(self, routing: Routing, known: set[str]) -> None:
        if len(routing.link_addrs) != len(self.links):
            raise ConfigError(f"topology {self.name!r}: {len(routing.link_addrs)} link addresses for {len(self.links)} links")
        pairs = [frozenset((link.a, link.b)) for link in self.links]
        if len(set(pairs)) != len(pairs):
            raise ConfigError(f"topology {self.name!r}: a routed topology cannot have parallel links")
        for r in routing.routes:
            if r.node not in known or not r.via:
                raise ConfigError(f"topology {self.name!r}: route {r} names unknown node {r.node!r} or no next hop")
            for hop in r.via:
                if frozenset((r.node, hop)) not in self._neighbour_addrs:
                    raise ConfigError(f"topology {self.name!r}: route {r.node} -> {r.dst} via {hop!r}: not a neighbour")

    @cached_property
    def _neighbour_addrs(self) -> dict[frozenset[str], dict[str, str]]:
        if self.routing is None:
            return {}
        return {frozenset((link.a, link.b)): {link.a: aa, link.b: ba}
                for link, (aa, ba) in zip(self.links, self.routing.link_addrs)}

    def neighbour_ip(self, node: str, neighbour: str) -> str:
        """Address (without prefix length) of ``neighbour`` on its link to ``node`` (routed topologies)."""
        try:
            return self._neighbour_addrs[frozenset((node, neighbour))][neighbour].split("/")[0]
        except KeyError:
            raise ConfigError(f"topology {self.name!r}: {node!r} and {neighbour!r} share no addressed link") from None

    @cached_property
    def switch_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.switches)

    @cached_property
    def intf_indices(self) -> tuple[tuple[int, int], ...]:
        """Interface number of each link's two ends (``a`` side, ``b`` side), in link order."""
        counters: dict[str, int] = {}
        out = []
        for link in self.links:
            ends = []
            for node in (link.a, link.b):
                idx = counters.get(node, 1 if node in self.switch_names else 0)
                counters[node] = idx + 1
                ends.append(idx)
            out.append((ends[0], ends[1]))
        return tuple(out)

    @cached_property
    def ports(self) -> tuple[PortSpec, ...]:
        """Switch egress ports in a stable order: switches in declaration order, then interface number."""
        by_switch: dict[str, list[PortSpec]] = {s.name: [] for s in self.switches}
        for link, (ia, ib) in zip(self.links, self.intf_indices):
            for here, idx, there in ((link.a, ia, link.b), (link.b, ib, link.a)):
                if here in by_switch:
                    by_switch[here].append(PortSpec(here, idx, there, link.capacity_mbps, link.queue_bytes))
        return tuple(p for s in self.switches for p in sorted(by_switch[s.name], key=lambda p: p.intf_index))

    @cached_property
    def _adjacency(self) -> dict[str, list[str]]:
        adj: dict[str, list[str]] = {}
        for link in self.links:
            adj.setdefault(link.a, []).append(link.b)
            adj.setdefault(link.b, []).append(link.a)
        return adj

    @cached_property
    def _distances(self) -> dict[str, dict[str, int]]:
        """Links on a shortest path between every pair of connected nodes (breadth-first)."""
        table: dict[str, dict[str, int]] = {}
        for start in self._adjacency:
            dist, frontier, level = {start: 0}, [start], 0
            while frontier:
                level += 1
                frontier = list(dict.fromkeys(
                    n for node in frontier for n in self._adjacency[node] if n not in dist))
                dist.update((n, level) for n in frontier)
            table[start] = dist
        return table

    def hops(self, a: str, b: str) -> int:
        """Number of links on a shortest path between nodes ``a`` and ``b``."""
        try:
            return self._distances[a][b]
        except KeyError:
            raise ConfigError(f"topology {self.name!r}: no path between {a!r} and {b!r}") from None

    def path_ports(self, src: str, dst: str) -> tuple[int, ...]:
        """Indices into :attr:`ports` of every egress port on a shortest path from ``src`` to
        ``dst``: the one path of a bridged tree, the whole ECMP set of a routed topology (its
        routes are shortest paths, so the kernel hashes each flow onto one of them)."""
        total = self.hops(src, dst)
        dist = self._distances
        return tuple(i for i, p in enumerate(self.ports)
                     if dist[src].get(p.switch, math.inf) + 1 + dist[p.peer].get(dst, math.inf) == total)

    @cached_property
    def host_by_ip(self) -> dict[str, HostSpec]:
        return {h.ip: h for h in self.hosts}

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise ConfigError(f"topology {self.name!r} has no host {name!r}; hosts are {[h.name for h in self.hosts]}")

    def host_port(self, host: str) -> PortSpec:
        """The switch port that faces ``host`` (its egress carries traffic *to* the host)."""
        for p in self.ports:
            if p.peer == host:
                return p
        raise ConfigError(f"host {host!r} is not attached to any switch in topology {self.name!r}")

    def host_capacity_mbps(self, host: str) -> float:
        return self.host_port(host).capacity_mbps

    @property
    def max_name_len(self) -> int:
        return max(len(n) for n in [h.name for h in self.hosts] + [s.name for s in self.switches])

    @property
    def max_intf_name_len(self) -> int:
        """Longest local interface name (``<node>-eth<n>``), before the backend adds its prefix."""
        lengths = [len(f"{node}-eth{idx}") for link, idxs in zip(self.links, self.intf_indices)
                   for node, idx in zip((link.a, link.b), idxs)]
        return max(lengths, default=self.max_name_len + len("-eth0"))


def host_ip(index: int) -> str:
    """Address of host ``index`` in the 10.0.0.0/8 plan (10.0.0.1, 10.0.0.2, ...)."""
    n = index + 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


HOST_PREFIX_LEN = 8


def queue_bytes_for(capacity_mbps: float, queue_ms: float) -> int:
    """Queue bound that follows capacity: ``queue_ms`` of drain time at link rate, at least 2 packets."""
    return max(2 * MTU_BYTES, int(capacity_mbps * 1e6 / 8 * queue_ms / 1000.0))
