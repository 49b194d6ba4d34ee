"""Dumbbell: two switches joined by one bottleneck link, N hosts on each side."""

from __future__ import annotations

from iroko_gym.topologies.base import HostSpec, LinkSpec, SwitchSpec, Topology, host_ip, queue_bytes_for
from iroko_gym.validate import check_int, check_real


def dumbbell(
    hosts_per_side: int = 2,
    capacity_mbps: float = 10.0,
    bottleneck_mbps: float | None = None,
    queue_ms: float = 50.0,
) -> Topology:
    """Hosts ``h1..hN`` on switch ``s1`` (left), ``hN+1..h2N`` on ``s2`` (right).

    ``bottleneck_mbps`` defaults to ``capacity_mbps``; host links run at ``capacity_mbps``.
    """
    hosts_per_side = check_int("dumbbell hosts_per_side", hosts_per_side, 1, 200)
    capacity_mbps = check_real("dumbbell capacity_mbps", capacity_mbps, positive=True)
    bottleneck = capacity_mbps if bottleneck_mbps is None else check_real("dumbbell bottleneck_mbps", bottleneck_mbps,
                                                                           positive=True)
    queue_ms = check_real("dumbbell queue_ms", queue_ms, positive=True)
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
