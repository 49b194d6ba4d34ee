"""Fat-tree as data: structure counts, IP plan and routes, walked hop by hop without root."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.topologies import TOPOLOGIES, make_topology
from iroko_gym.topologies.fattree import fattree


@pytest.mark.parametrize("k, hosts, switches, cores, links", [(4, 16, 20, 4, 48), (8, 128, 80, 16, 384)])
def test_structure_counts(k, hosts, switches, cores, links):
    t = fattree(k)
    assert len(t.hosts) == hosts
    assert len(t.switches) == switches
    assert Counter(s.tier for s in t.switches) == {"core": cores, "agg": k * k // 2, "edge": k * k // 2}
    assert len(t.links) == links
    assert len(t.ports) == 2 * links - hosts  # every link end on a switch is a port
    assert {h.pod for h in t.hosts} == set(range(k))
    assert Counter(h.edge for h in t.hosts) == {e: k // 2 for e in range(k * k // 2)}


def test_registered_and_names_fit_interface_limit():
    assert TOPOLOGIES["fattree"] is fattree
    t = make_topology("fattree", k=8)
    assert 5 + t.max_intf_name_len <= 15  # a 5-character env prefix still fits IFNAMSIZ-1
    assert t.host("h128").pod == 7


def test_tier_capacities_and_queues_follow_them():
    t = fattree(4, capacity_mbps=10, agg_mbps=8, core_mbps=5, queue_ms=20)
    rates = {frozenset(n[0] for n in (l.a, l.b)): l.capacity_mbps for l in t.links}
    assert rates == {frozenset("he"): 10, frozenset("ea"): 8, frozenset("ac"): 5}
    core_link = next(l for l in t.links if l.b.startswith("c"))
    assert core_link.queue_bytes == int(5e6 / 8 * 0.020)


def test_hosts_per_edge_is_configurable():
    t = fattree(4, hosts_per_edge=3)
    assert len(t.hosts) == 24
    assert [p.peer for p in t.ports if p.switch == "e1"] == ["h1", "h2", "h3", "a1", "a2"]


@pytest.mark.parametrize("kwargs, bad", [({"k": 3}, "k=3"), ({"k": 0}, "k=0"), ({"k": -2}, "k=-2"), ({"k": 4.0}, "k=4.0"),
                                          ({"k": 18}, "k=18"), ({"k": 4, "hosts_per_edge": 0}, "hosts_per_edge=0"),
                                          ({"k": 4, "hosts_per_edge": 65}, "hosts_per_edge=65"),
                                          ({"core_mbps": 0}, "core_mbps=0")])
def test_invalid_parameters_name_the_value(kwargs, bad):
    with pytest.raises(ConfigError, match=bad):
        fattree(**kwargs)


def _addresses(t):
    """node -> list of (interface network, own address, neighbour)."""
    out = {}
    for link, (aa, ba) in zip(t.links, t.routing.link_addrs):
        for node, addr, other in ((link.a, aa, link.b), (link.b, ba, link.a)):
            iface = ipaddress.ip_interface(addr)
            out.setdefault(node, []).append((iface.network, iface.ip, other))
    return out


class _Fib:
    """Longest-prefix match over each node's connected subnets and routes."""

    def __init__(self, t):
        self.t = t
        self.addrs = _addresses(t)
        self.table = {node: [(net, (other,)) for net, _, other in ifaces] for node, ifaces in self.addrs.items()}
        for r in t.routing.routes:
            self.table[r.node].append((ipaddress.ip_network(r.dst), r.via))
        for entries in self.table.values():
            entries.sort(key=lambda e: -e[0].prefixlen)

    def next_hops(self, node, dst):
        return next((via for net, via in self.table[node] if dst in net), ())

    def paths(self, src, dst_host):
        dst = ipaddress.ip_address(dst_host.ip)
        paths, stack = [], [(src, (src,))]
        while stack:
            node, path = stack.pop()
            if node == dst_host.name:
                paths.append(path)
                continue
            assert len(path) < 8, f"routing loop {path}"
            hops = self.next_hops(node, dst)
            assert hops, f"{node} has no route to {dst}"
            stack.extend((h, path + (h,)) for h in hops)
        return paths


def test_ip_plan_is_consistent():
    t = fattree(4)
    addrs = _addresses(t)
    all_ips = [ip for node in addrs.values() for _, ip, _ in node]
    assert len(all_ips) == len(set(all_ips)) == 2 * len(t.links)
    for h in t.hosts:
        ((net, ip, edge),) = addrs[h.name]
        assert str(ip) == h.ip and net.prefixlen == 31 and edge.startswith("e")
        assert t.neighbour_ip(h.name, edge) == str(next(i for n, i, o in addrs[edge] if o == h.name))


@pytest.mark.parametrize("k", [4, 8])
def test_every_pair_reachable_with_all_shortest_paths(k):
    t = fattree(k)
    fib = _Fib(t)
    half = k // 2
    hosts = t.hosts if k == 4 else t.hosts[::7]
    for src in hosts:
        for dst in hosts:
            if src is dst:
                continue
            paths = fib.paths(src.name, dst)
            if src.edge == dst.edge:
                want, hops = 1, 2
            elif src.pod == dst.pod:
                want, hops = half, 4
            else:
                want, hops = half * half, 6
            assert len(paths) == len(set(paths)) == want, (src.name, dst.name)
            assert {len(p) - 1 for p in paths} == {hops}
            if src.pod != dst.pod:
                assert {p[3] for p in paths} == {s.name for s in t.switches if s.tier == "core"}


def test_routing_validation_names_the_bad_route():
    from dataclasses import replace

    from iroko_gym.topologies.base import Route, Routing

    t = fattree(2)
    bad = Routing(t.routing.link_addrs, t.routing.routes + (Route("h1", "10.9.0.0/16", ("c1",)),))
    with pytest.raises(ConfigError, match="via 'c1': not a neighbour"):
        replace(t, routing=bad)
    with pytest.raises(ConfigError, match="link addresses"):
        replace(t, routing=Routing(t.routing.link_addrs[:-1], ()))
