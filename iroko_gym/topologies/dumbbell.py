"""Dumbbell: two switches joined by one bottleneck link, N hosts on each side."""

from __future__ import annotations

from iroko_gym.errors import ConfigError
from iroko_gym.topologies.base import HostSpec, LinkSpec, SwitchSpec, Topology, host_ip, queue_bytes_for


def dumbbell(
    hosts_per_side: int = 2,
    capacity_mbps: float = 10.0,
    bottleneck_mbps: float | None = None,
    queue_ms: float = 50.0,
) -> Topology:
    """Hosts ``h1..hN`` on switch ``s1`` (left), ``hN+1..h2N`` on ``s2`` (right).

    ``bottleneck_mbps`` defaults to ``capacity_mbps``; host links run at ``capacity_mbps``.
    """
    if not isinstance(hosts_per_side, int) or hosts_per_side < 1:
        raise ConfigError(f"dumbbell hosts_per_side={hosts_per_side!r}: must be an integer >= 1")
    if hosts_per_side > 200:
        raise ConfigError(f"dumbbell hosts_per_side={hosts_per_side}: at most 200 hosts per side are supported")
    bottleneck = capacity_mbps if bottleneck_mbps is None else bottleneck_mbps
    n = 2 * hosts_per_side
    hosts = tuple(
        HostSpec(f"h{i + 1}", i, host_ip(i), pod=0 if i < hosts_per_side else 1, edge=0 if i < hosts_per_side else 1)
        for i in range(n)
    )
    switches = (SwitchSpec("s1", "edge", pod=0), SwitchSpec("s2", "edge", pod=1))
    links = [LinkSpec("s1", "s2", bottleneck, queue_bytes_for(bottleneck, queue_ms))] if n else []
    for h in hosts:
        sw = "s1" if h.pod == 0 else "s2"
        links.append(LinkSpec(h.name, sw, capacity_mbps, queue_bytes_for(capacity_mbps, queue_ms)))
    params = dict(hosts_per_side=hosts_per_side, capacity_mbps=capacity_mbps, bottleneck_mbps=bottleneck, queue_ms=queue_ms)
    return Topology("dumbbell", hosts, switches, tuple(links), params)
