"""Non-blocking switch: every host on one big switch (the ideal-fabric reference)."""

from __future__ import annotations

from iroko_gym.errors import ConfigError
from iroko_gym.topologies.base import HostSpec, LinkSpec, SwitchSpec, Topology, host_ip, queue_bytes_for


def nonblock(num_hosts: int = 16, capacity_mbps: float = 10.0, queue_ms: float = 50.0) -> Topology:
    """Hosts ``h1..hN`` all attached to switch ``s1``."""
    if not isinstance(num_hosts, int) or num_hosts < 2:
        raise ConfigError(f"nonblock num_hosts={num_hosts!r}: must be an integer >= 2")
    if num_hosts > 400:
        raise ConfigError(f"nonblock num_hosts={num_hosts}: at most 400 hosts are supported")
    hosts = tuple(HostSpec(f"h{i + 1}", i, host_ip(i)) for i in range(num_hosts))
    links = tuple(LinkSpec(h.name, "s1", capacity_mbps, queue_bytes_for(capacity_mbps, queue_ms)) for h in hosts)
    params = dict(num_hosts=num_hosts, capacity_mbps=capacity_mbps, queue_ms=queue_ms)
    return Topology("nonblock", hosts, (SwitchSpec("s1", "edge"),), links, params)
