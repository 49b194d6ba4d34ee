"""Loop-free topologies (dumbbell, non-blocking) with Linux bridges as switches.

Switches are Linux bridges in the root namespace, built through netlink (no controller, no Open
vSwitch datapath, no STP: the topologies built here are loop-free).  Every switch egress port
gets a TBF qdisc: the link rate plus a bounded byte FIFO, which is the queue the collectors observe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iroko_gym.dc.backends.base import Backend, tagged_host_class, tbf_burst_bytes
from iroko_gym.errors import EmulationError
from iroko_gym.topologies.base import HOST_PREFIX_LEN


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


class BridgedBackend(Backend):
    """Mininet hosts, switches as root-namespace bridges with a TBF on every egress port."""

    def _root_links(self) -> list[str]:
        """The bridges and their ports."""
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
