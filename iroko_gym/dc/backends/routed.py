"""Realise a routed ``Topology`` (fat-tree): switches as L3 routers with kernel ECMP.

This kernel has no Open vSwitch datapath, so multipath comes from Linux itself: every switch is
a Mininet node in its own network namespace with ``ip_forward=1``, a /31 per link, kernel
multipath routes (``nexthop via A nexthop via B``) and ``fib_multipath_hash_policy=1`` (hash on
the L4 5-tuple, per namespace), so that flows, not packets, spread over the equal-cost paths.
Each router also gets its own ``fib_multipath_hash_seed``: with one shared seed every tier
computes the same hash, and Linux's hash-threshold selection then sends all flows that an edge
hashed to an aggregation switch on to the same core (polarisation: measured, 2 of 4 cores used).
Every switch egress port gets the same TBF (link rate + bounded byte FIFO) as in the bridge
backend, inside the router's namespace.

Configuration is generated as data (``node_commands``: sysctls, an ``ip -batch`` and a
``tc -batch`` script per node) and applied by one ``mnexec`` process per node, all nodes in
parallel.  Nothing is created in the root namespace: each veth end is created directly inside
its node's namespace, so the node shells (recorded in the env's ``Ownership``) take every link
with them when they die.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from iroko_gym.dc.backends.base import Backend, tagged_host_class, tbf_burst_bytes
from iroko_gym.errors import DependencyError, EmulationError
from iroko_gym.topologies.base import Topology

_PARALLEL = 32
HASH_FIELDS = 0x01 | 0x02 | 0x04 | 0x10 | 0x20  # src ip, dst ip, ip proto, src port, dst port
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class NodeCommands:
    """Everything that configures one node: sysctl assignments, the two batch scripts and, on
    hosts, the interface whose segmentation offloads go off (MTU-sized packets reach the rate
    limiter and the switch queues, as on a wire; same as the bridge backend)."""

    node: str
    sysctls: tuple[str, ...]
    ip_batch: tuple[str, ...]
    tc_batch: tuple[str, ...]
    offload_off: str | None = None


def hash_seed(position: int) -> int:
    """A distinct, reproducible, non-zero 32-bit ECMP hash seed for the switch at ``position``."""
    return (position + 1) * 2654435761 % (1 << 32) or 1


def require_ecmp() -> None:
    """Fail with what is missing if the kernel cannot do per-flow multipath with per-router seeds."""
    for name, need in (("fib_multipath_hash_fields", "CONFIG_IP_ROUTE_MULTIPATH, Linux >= 5.12 (custom hash fields)"),
                       ("fib_multipath_hash_seed", "Linux >= 6.11 (per-namespace ECMP hash seed)")):
        if not Path(f"/proc/sys/net/ipv4/{name}").exists():
            raise DependencyError(f"routed topologies need net.ipv4.{name}: this kernel lacks {need}")


def node_commands(topology: Topology, name: Callable[[str], str]) -> list[NodeCommands]:
    """Per-node configuration of a routed topology; ``name`` maps local names to prefixed ones."""
    routing = topology.routing
    if routing is None:
        raise EmulationError(f"topology {topology.name!r} has no routing: it is realised with bridges")
    switches = topology.switch_names
    ifaces: dict[str, list[tuple[str, str]]] = {}
    for link, (ia, ib), addrs in zip(topology.links, topology.intf_indices, routing.link_addrs):
        for node, idx, addr in ((link.a, ia, addrs[0]), (link.b, ib, addrs[1])):
            ifaces.setdefault(node, []).append((f"{name(node)}-eth{idx}", addr))
    routes: dict[str, list[str]] = {}
    for r in routing.routes:
        hops = [topology.neighbour_ip(r.node, h) for h in r.via]
        via = f"via {hops[0]}" if len(hops) == 1 else " ".join(f"nexthop via {h}" for h in hops)
        routes.setdefault(r.node, []).append(f"route add {r.dst} {via}")
    qdiscs: dict[str, list[str]] = {}
    for port in topology.ports:
        rate = int(port.capacity_mbps * 1e6)
        qdiscs.setdefault(port.switch, []).append(
            f"qdisc add dev {name(port.local_intf)} root handle 1: tbf rate {rate}bit "
            f"burst {tbf_burst_bytes(rate)} limit {port.queue_bytes}")
    seeds = {s.name: hash_seed(i) for i, s in enumerate(topology.switches)}
    out = []
    for node in [h.name for h in topology.hosts] + [s.name for s in topology.switches]:
        sysctls = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        if node in switches:
            sysctls += ["net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=3",
                        f"net.ipv4.fib_multipath_hash_fields={HASH_FIELDS}",
                        f"net.ipv4.fib_multipath_hash_seed={seeds[node]}",
                        "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
            sysctls += [f"net.ipv4.conf.{ifname}.rp_filter=0" for ifname, _ in ifaces.get(node, [])]
        ip = [f"addr add {addr} dev {ifname}" for ifname, addr in ifaces.get(node, [])]
        ip += ["link set dev lo up"] + [f"link set dev {ifname} up" for ifname, _ in ifaces.get(node, [])]
        ip += routes.get(node, [])
        offload = None if node in switches else ifaces[node][0][0]
        out.append(NodeCommands(node, tuple(sysctls), tuple(ip), tuple(qdiscs.get(node, [])), offload))
    return out


# Runs inside the node: $1 = ip batch file, $2 = tc batch file (may be empty), $3 = interface
# whose offloads go off ("-": none), rest = sysctls.
_APPLY = ('ip=$1; tc=$2; eth=$3; shift 3; sysctl -qw "$@" >/dev/null && ip -batch "$ip" && '
          '{ [ ! -s "$tc" ] || tc -batch "$tc"; } && { [ "$eth" = - ] || ethtool -K "$eth" tso off gso off >/dev/null; }')


class RoutedBackend(Backend):
    """Mininet nodes for hosts and routers; ports live in the routers' namespaces."""

    def check(self) -> None:
        super().check()
        require_ecmp()

    def _root_links(self) -> list[str]:
        return []

    @property
    def port_netns_paths(self) -> tuple[str | None, ...]:
        pids = {s.name: self._net.get(self.node_name(s.name)).pid for s in self.topology.switches}
        return tuple(f"/proc/{pids[p.switch]}/ns/net" for p in self.topology.ports)

    def _build(self) -> None:
        from mininet.log import setLogLevel
        from mininet.net import Mininet

        setLogLevel("error")
        assert self.own is not None  # start() claimed the prefix
        self._net = Mininet(topo=None, host=tagged_host_class(self.prefix), controller=None, build=False,
                            autoSetMacs=False, waitConnected=False)
        for node in [h.name for h in self.topology.hosts] + [s.name for s in self.topology.switches]:
            self.own.add_process(self._net.addHost(self.node_name(node), ip=None).pid)  # addresses: IP plan below
        self._create_links()
        self._configure(node_commands(self.topology, self.node_name))

    def _create_links(self) -> None:
        """Every veth pair in one ``ip -batch``, each end created directly in its node's namespace.

        (Mininet's own link building runs several shell commands per link: minutes at k=8.)
        """
        pid = {n.name: n.pid for n in self._net.hosts}
        lines = []
        for link, (ia, ib) in zip(self.topology.links, self.topology.intf_indices):
            a, b = self.node_name(link.a), self.node_name(link.b)
            lines.append(f"link add name {a}-eth{ia} netns {pid[a]} type veth peer name {b}-eth{ib} netns {pid[b]}")
        with tempfile.NamedTemporaryFile("w", prefix=f"{self.prefix}-links-", suffix=".ip") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            proc = subprocess.run(["ip", "-batch", fh.name], capture_output=True, text=True, timeout=_TIMEOUT_S,
                                  check=False)
        if proc.returncode != 0:
            raise EmulationError(f"creating the links of topology {self.topology.name!r} failed: {proc.stderr.strip()}")

    def _configure(self, commands: list[NodeCommands]) -> None:
        """Apply every node's configuration, ``_PARALLEL`` nodes at a time; raise with stderr on failure."""
        with tempfile.TemporaryDirectory(prefix=f"{self.prefix}-cfg-") as tmp:
            jobs = []
            for cmd in commands:
                ip_file, tc_file = Path(tmp) / f"{cmd.node}.ip", Path(tmp) / f"{cmd.node}.tc"
                ip_file.write_text("\n".join(cmd.ip_batch) + "\n")
                tc_file.write_text("\n".join(cmd.tc_batch) + ("\n" if cmd.tc_batch else ""))
                pid = self._net.get(self.node_name(cmd.node)).pid
                argv = ["mnexec", "-a", str(pid), "sh", "-c", _APPLY, "sh", str(ip_file), str(tc_file),
                        cmd.offload_off or "-", *cmd.sysctls]
                jobs.append((cmd.node, argv))
            for start in range(0, len(jobs), _PARALLEL):
                running = [(node, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                           for node, argv in jobs[start:start + _PARALLEL]]
                for node, proc in running:
                    _, err = proc.communicate(timeout=_TIMEOUT_S)
                    if proc.returncode != 0:
                        raise EmulationError(f"configuring node {node} failed (exit {proc.returncode}): {err.strip()}")
