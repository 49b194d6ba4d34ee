"""The routed backend's per-node configuration, generated as data (no root needed)."""

from __future__ import annotations

import pytest

from iroko_gym.dc.backends.routed import HASH_FIELDS, hash_seed, node_commands
from iroko_gym.errors import EmulationError
from iroko_gym.topologies import make_topology


@pytest.fixture(scope="module")
def commands():
    t = make_topology("fattree", k=4, capacity_mbps=10, core_mbps=5)
    return t, {c.node: c for c in node_commands(t, lambda n: "iabcd" + n)}


def test_one_entry_per_node(commands):
    t, by_node = commands
    assert set(by_node) == {h.name for h in t.hosts} | {s.name for s in t.switches}


def test_host_gets_its_address_and_a_default_route_via_its_edge(commands):
    _, by_node = commands
    h1 = by_node["h1"]
    assert h1.ip_batch == ("addr add 10.0.0.1/31 dev iabcdh1-eth0", "link set dev lo up",
                           "link set dev iabcdh1-eth0 up", "route add 0.0.0.0/0 via 10.0.0.0")
    assert h1.tc_batch == () and "net.ipv4.ip_forward=1" not in h1.sysctls
    assert h1.offload_off == "iabcdh1-eth0" and by_node["e1"].offload_off is None


def test_edge_router_multipath_route_and_port_queues(commands):
    _, by_node = commands
    e1 = by_node["e1"]
    assert "route add 10.0.0.0/8 nexthop via 172.16.0.1 nexthop via 172.16.0.3" in e1.ip_batch
    assert len(e1.tc_batch) == 4 and e1.tc_batch[0].startswith("qdisc add dev iabcde1-eth1 root handle 1: tbf rate 10000000bit")
    assert {"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=3",
            f"net.ipv4.fib_multipath_hash_fields={HASH_FIELDS}", "net.ipv4.conf.iabcde1-eth3.rp_filter=0"} <= set(e1.sysctls)


def test_core_ports_use_the_core_rate_and_routers_get_distinct_seeds(commands):
    t, by_node = commands
    assert all("tbf rate 5000000bit" in line for line in by_node["c1"].tc_batch)
    seeds = [next(s for s in by_node[sw.name].sysctls if "hash_seed" in s) for sw in t.switches]
    assert len(set(seeds)) == len(seeds)
    assert all(0 < hash_seed(i) < 2**32 for i in range(1000))


def test_bridge_topologies_have_no_routing():
    with pytest.raises(EmulationError, match="no routing"):
        node_commands(make_topology("dumbbell"), str)
