"""Non-blocking switch: every host on one big switch (the ideal-fabric reference)."""

from __future__ import annotations

from iroko_gym.topologies.base import HostSpec, LinkSpec, SwitchSpec, Topology, host_ip, queue_bytes_for
from iroko_gym.validate import check_int, check_real


def nonblock(num_hosts: int = 16, capacity_mbps: float = 10.0, queue_ms: float = 50.0) -> Topology:
    """Hosts ``h1..hN`` all attached to switch ``s1``."""
    num_hosts = check_int("nonblock num_hosts", num_hosts, 2, 400)
    capacity_mbps = check_real("nonblock capacity_mbps", capacity_mbps, positive=True)
    queue_ms = check_real("nonblock queue_ms", queue_ms, positive=True)
    hosts = tuple(HostSpec(f"h{i + 1}", i, host_ip(i)) for i in range(num_hosts))
    links = tuple(LinkSpec(h.name, "s1", capacity_mbps, queue_bytes_for(capacity_mbps, queue_ms)) for h in hosts)
    params = dict(num_hosts=num_hosts, capacity_mbps=capacity_mbps, queue_ms=queue_ms)
    return Topology("nonblock", hosts, (SwitchSpec("s1", "edge"),), links, params)
