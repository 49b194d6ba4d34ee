"""Realise a ``Topology`` as a live Mininet network on a kernel without the Open vSwitch datapath.

Hosts are Mininet hosts (network namespaces held by a shell).  Switches are Linux bridges in the
root namespace (no controller, no OVS, no STP: the topologies built here are loop-free).  Every
switch egress port gets a TBF qdisc: the link rate plus a bounded byte FIFO, which is the queue
the collectors observe.  Everything carries the env's prefix and is recorded in its
``Ownership`` before it is created, so a crash at any point leaves a record the next start can
clean.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from iroko_gym.dc.registry import Ownership, claim_prefix, reap_stale, tagged_environ
from iroko_gym.errors import DependencyError, EmulationError, PrivilegeError
from iroko_gym.topologies.base import HOST_PREFIX_LEN, MTU_BYTES, PortSpec, Topology

IFNAME_MAX = 15
log = logging.getLogger(__name__)


def require_root(what: str = "building the emulated network") -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(
            f"{what} needs root (network namespaces, veth links and qdiscs); "
            "run as root, e.g. `sudo -E .venv/bin/python your_script.py`"
        )


def require_mininet() -> None:
    try:
        import mininet.net  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "the Python module 'mininet' is not importable; run ./install.sh "
            "(installs Debian's mininet package and links it into .venv)"
        ) from exc
    if shutil.which("mnexec") is None:
        raise DependencyError("'mnexec' is not on PATH; run ./install.sh (apt-get install mininet)")


def tbf_burst_bytes(rate_bps: float) -> int:
    """Token bucket depth: 1 ms at line rate, at least two full packets."""
    return max(2 * (MTU_BYTES + 14), int(rate_bps / 8 / 1000))


def _bridge_switch_class() -> type:
    """A Mininet switch that is a Linux bridge in the root namespace, built through netlink."""
    from mininet.node import Switch
    from pyroute2 import IPRoute

    class BridgeSwitch(Switch):
        def __init__(self, name: str, **params: Any) -> None:
            params["inNamespace"] = False
            super().__init__(name, **params)

        def start(self, controllers: list) -> None:
            with IPRoute() as ipr:
                ipr.link("add", ifname=self.name, kind="bridge", br_stp_state=0)
                (br,) = ipr.link_lookup(ifname=self.name)
                for intf in self.intfList():
                    if intf.name == "lo":
                        continue
                    (idx,) = ipr.link_lookup(ifname=intf.name)
                    ipr.link("set", index=idx, master=br, state="up")
                ipr.link("set", index=br, state="up")

    return BridgeSwitch


def tagged_host_class(prefix: str) -> type:
    """Mininet's Host whose shell (and so every command run in it) carries the env's tag."""
    from mininet.node import Host

    class TaggedHost(Host):
        def _popen(self, cmd: list[str], **params: Any) -> subprocess.Popen:
            params.setdefault("env", tagged_environ(prefix))
            return super()._popen(cmd, **params)

    return TaggedHost


class MininetBackend:
    """One live emulated network; a context manager. ``close()`` is idempotent."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.own: Ownership | None = None
        self._net: Any = None
        self._procs: list[subprocess.Popen] = []

    # -- names ----------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        if self.own is None:
            raise EmulationError("the network is not started")
        return self.own.prefix

    def node_name(self, local: str) -> str:
        return self.prefix + local

    def host_intf(self, host: str) -> str:
        """Name of the host's interface inside its namespace."""
        return f"{self.node_name(host)}-eth0"

    def port_ifname(self, port: PortSpec) -> str:
        return self.prefix + port.local_intf

    @property
    def port_ifnames(self) -> tuple[str, ...]:
        return tuple(self.port_ifname(p) for p in self.topology.ports)

    def host_pid(self, host: str) -> int:
        return self._net.get(self.node_name(host)).pid

    def host_netns_path(self, host: str) -> str:
        return f"/proc/{self.host_pid(host)}/ns/net"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Build the network; on any failure remove what was built and raise EmulationError."""
        require_root()
        require_mininet()
        reap_stale()
        self.own = claim_prefix()
        try:
            longest = len(self.prefix) + max(self.topology.max_intf_name_len, self.topology.max_name_len)
            if longest > IFNAME_MAX:
                raise EmulationError(f"interface names would reach {longest} characters (kernel limit {IFNAME_MAX})")
            # Record before creating, so that a crash in the middle still leaves a complete record.
            self.own.add_links(self._root_links())
            self._build()
        except BaseException as exc:  # Ctrl-C and SIGTERM (SystemExit) during a build remove it too
            self.close()
            if isinstance(exc, EmulationError) or not isinstance(exc, Exception):
                raise
            raise EmulationError(f"building topology {self.topology.name!r} failed: {exc}") from exc

    def _root_links(self) -> list[str]:
        """Links this backend creates in the root namespace: the bridges and their ports."""
        return [self.node_name(s.name) for s in self.topology.switches] + list(self.port_ifnames)

    @property
    def port_netns_paths(self) -> tuple[str | None, ...]:
        """Namespace of each port in ``Topology.ports`` order; None = the root namespace."""
        return (None,) * len(self.topology.ports)

    def _build(self) -> None:
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.topo import Topo

        setLogLevel("error")
        mtopo = Topo()
        for h in self.topology.hosts:
            mtopo.addHost(self.node_name(h.name), ip=f"{h.ip}/{HOST_PREFIX_LEN}")
        for s in self.topology.switches:
            mtopo.addSwitch(self.node_name(s.name))
        for link, (ia, ib) in zip(self.topology.links, self.topology.intf_indices):
            mtopo.addLink(self.node_name(link.a), self.node_name(link.b), port1=ia, port2=ib)
        self._net = Mininet(topo=mtopo, host=tagged_host_class(self.prefix), switch=_bridge_switch_class(),
                            controller=None, build=False,
                            autoSetMacs=False, waitConnected=False)
        self._net.build()
        for host in self._net.hosts:
            self.own.add_process(host.pid)
        for sw in self._net.switches:
            self.own.add_process(sw.pid)
        self._net.start()
        self._configure_hosts()
        self._configure_ports()

    def _configure_hosts(self) -> None:
        for h in self.topology.hosts:
            node = self._net.get(self.node_name(h.name))
            # Segmentation offloads off: the host then hands MTU-sized packets to its rate limiter
            # and the switch queues, as a NIC puts them on the wire; with 64 kB GSO bursts a rate
            # limit of a few Mbit/s is only met on average over seconds.
            out = node.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && "
                           f"ethtool -K {self.host_intf(h.name)} tso off gso off >/dev/null && echo ok")
            if "ok" not in out:
                raise EmulationError(f"configuring host {h.name}: {out.strip()}")

    def _configure_ports(self) -> None:
        """Bounded FIFO + link rate on every switch egress port (root namespace, netlink)."""
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for port, ifname in zip(self.topology.ports, self.port_ifnames):
                (idx,) = ipr.link_lookup(ifname=ifname)
                rate_bps = int(port.capacity_mbps * 1e6)
                ipr.tc("add", "tbf", index=idx, handle="1:", rate=f"{rate_bps}bit",
                       burst=tbf_burst_bytes(rate_bps), limit=port.queue_bytes)
                Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("1")
            for s in self.topology.switches:
                Path(f"/proc/sys/net/ipv6/conf/{self.node_name(s.name)}/disable_ipv6").write_text("1")

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a process inside ``host``'s namespace and record it for teardown."""
        kwargs.setdefault("env", tagged_environ(self.prefix))
        proc = subprocess.Popen(["mnexec", "-da", str(self.host_pid(host)), *argv], **kwargs)
        self._procs.append(proc)
        self.own.add_process(proc.pid)
        return proc

    def close(self) -> None:
        """Stop processes, tear the network down, remove the record. Safe to call twice."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._procs.clear()
        if self._net is not None:
            net, self._net = self._net, None
            # Not ``net.stop()``: Mininet deletes every interface with ``ip link del NAME``, both
            # ends of each veth, so the second delete names a link that is already gone, and
            # iproute2 may read such a name as an interface index (see registry.new_prefix).
            # Ending the node shells takes their namespaces' links with them; the links in the
            # root namespace are deleted through netlink by the ownership record below.
            for node in [*net.hosts, *net.switches]:
                try:
                    node.terminate()
                except Exception as exc:  # noqa: BLE001 - the record below still kills its shell
                    log.warning("env %s: stopping node %s failed: %s", self.own and self.own.prefix, node.name, exc)
        if self.own is not None:
            own, self.own = self.own, None
            own.remove_all()

    def __enter__(self) -> MininetBackend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def backend_for(topology: Topology) -> MininetBackend:
    """Bridges for loop-free topologies; namespaced L3 routers with ECMP for routed ones."""
    if topology.routing is None:
        return MininetBackend(topology)
    from iroko_gym.dc.routed import RoutedBackend

    return RoutedBackend(topology)
