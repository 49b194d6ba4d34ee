"""k-ary fat-tree (Al-Fares et al. 2008) as routed data: nodes, links, IP plan and ECMP routes.

Names: hosts ``h1..hN``, edge switches ``e1..``, aggregation ``a1..``, core ``c1..`` (short, so
that a 5-character env prefix plus ``-eth<n>`` fits the kernel's 15-character interface names).

Links are declared host-edge first, then edge-agg, then agg-core, so every switch's interfaces
are numbered downwards first: edge ``eth1..eth<hosts_per_edge>`` face hosts, the rest face the
pod's aggregation switches; aggregation ``eth1..eth<k/2>`` face edges, the rest face cores; core
``eth<p+1>`` faces pod ``p``.

IP plan: host ``i`` on edge ``e`` (index within pod) of pod ``p`` is ``10.p.e.(2i+1)/31``, its
edge switch's side of that link ``10.p.e.(2i)/31``; fabric links take consecutive /31s from
172.16.0.0/12.  Routes (next hops are neighbours, several = ECMP, hashed per flow by the kernel):
host ``0.0.0.0/0`` via its edge; edge ``10.0.0.0/8`` via every aggregation switch of its pod;
aggregation ``10.p.e.0/24`` via edge ``e`` of its own pod and ``10.0.0.0/8`` via its k/2 cores;
core ``10.p.0.0/16`` via the aggregation switch of pod ``p`` it is wired to.
"""

from __future__ import annotations

import ipaddress

from iroko_gym.errors import ConfigError
from iroko_gym.validate import check_int, check_real, is_int
from iroko_gym.topologies.base import HostSpec, LinkSpec, Route, Routing, SwitchSpec, Topology, queue_bytes_for

MAX_K = 16
MAX_HOSTS_PER_EDGE = 64
FABRIC_BASE = ipaddress.IPv4Address("172.16.0.0")


def _check_k(k: object) -> int:
    if not is_int(k) or k < 2 or k % 2 or k > MAX_K:  # type: ignore[operator]
        raise ConfigError(f"fattree k={k!r}: must be an even integer in 2..{MAX_K}")
    return int(k)  # type: ignore[call-overload]


def fattree(
    k: int = 4,
    hosts_per_edge: int | None = None,
    capacity_mbps: float = 10.0,
    core_mbps: float | None = None,
    agg_mbps: float | None = None,
    queue_ms: float = 50.0,
) -> Topology:
    """A k-ary fat-tree: k pods of k/2 edge + k/2 aggregation switches, (k/2)^2 cores.

    ``capacity_mbps`` is the host-edge link rate; ``agg_mbps`` (edge-agg) and ``core_mbps``
    (agg-core) default to it, smaller values oversubscribe the upper tiers.
    """
    k = _check_k(k)
    half = k // 2
    hpe = half if hosts_per_edge is None else check_int("fattree hosts_per_edge", hosts_per_edge, 1, MAX_HOSTS_PER_EDGE)
    host_rate = check_real("fattree capacity_mbps", capacity_mbps, positive=True)
    agg_rate = host_rate if agg_mbps is None else check_real("fattree agg_mbps", agg_mbps, positive=True)
    core_rate = host_rate if core_mbps is None else check_real("fattree core_mbps", core_mbps, positive=True)
    queue_ms = check_real("fattree queue_ms", queue_ms, positive=True)

    cores = [SwitchSpec(f"c{i + 1}", "core") for i in range(half * half)]
    aggs = [SwitchSpec(f"a{p * half + j + 1}", "agg", pod=p) for p in range(k) for j in range(half)]
    edges = [SwitchSpec(f"e{p * half + j + 1}", "edge", pod=p) for p in range(k) for j in range(half)]
    hosts: list[HostSpec] = []
    links: list[LinkSpec] = []
    addrs: list[tuple[str, str]] = []
    routes: list[Route] = []

    def link(a: str, b: str, rate: float, a_ip: str, b_ip: str) -> None:
        links.append(LinkSpec(a, b, rate, queue_bytes_for(rate, queue_ms)))
        addrs.append((f"{a_ip}/31", f"{b_ip}/31"))

    for p in range(k):
        for j in range(half):
            edge = edges[p * half + j].name
            for i in range(hpe):
                name = f"h{len(hosts) + 1}"
                ip = f"10.{p}.{j}.{2 * i + 1}"
                hosts.append(HostSpec(name, len(hosts), ip, pod=p, edge=p * half + j))
                link(name, edge, host_rate, ip, f"10.{p}.{j}.{2 * i}")
                routes.append(Route(name, "0.0.0.0/0", (edge,)))
    fabric = 0

    def fabric_pair() -> tuple[str, str]:
        nonlocal fabric
        a = FABRIC_BASE + 2 * fabric
        fabric += 1
        return str(a), str(a + 1)

    for p in range(k):
        pod_aggs = tuple(a.name for a in aggs[p * half:(p + 1) * half])
        for j in range(half):
            edge = edges[p * half + j].name
            for agg in pod_aggs:
                link(edge, agg, agg_rate, *fabric_pair())
            routes.append(Route(edge, "10.0.0.0/8", pod_aggs))
    for p in range(k):
        for j in range(half):
            agg = aggs[p * half + j].name
            my_cores = tuple(c.name for c in cores[j * half:(j + 1) * half])
            for core_name in my_cores:
                link(agg, core_name, core_rate, *fabric_pair())
            for e in range(half):
                routes.append(Route(agg, f"10.{p}.{e}.0/24", (edges[p * half + e].name,)))
            routes.append(Route(agg, "10.0.0.0/8", my_cores))
    for c, core in enumerate(cores):
        j = c // half  # cores j*half .. j*half+half-1 hang off aggregation switch j of every pod
        for p in range(k):
            routes.append(Route(core.name, f"10.{p}.0.0/16", (aggs[p * half + j].name,)))

    params = {"k": k, "hosts_per_edge": hpe, "capacity_mbps": host_rate, "core_mbps": core_rate, "agg_mbps": agg_rate,
              "queue_ms": queue_ms}
    return Topology("fattree", tuple(hosts), tuple(cores + aggs + edges), tuple(links), params,
                    routing=Routing(tuple(addrs), tuple(routes)))
