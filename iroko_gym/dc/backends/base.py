"""What every emulated network shares, whichever way its switches are built.

Hosts are Mininet hosts (network namespaces held by a shell).  Everything carries the env's
prefix and is recorded in its ``Ownership`` before it is created, so a crash at any point leaves
a record the next start can clean.  The kinds: ``bridged`` (Linux bridges, loop-free topologies)
and ``routed`` (namespaced L3 routers with ECMP); ``backend_for`` chooses.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from typing import Any, Sequence

from iroko_gym.dc.registry import Ownership, claim_prefix, reap_stale, tagged_environ
from iroko_gym.errors import DependencyError, EmulationError, PrivilegeError
from iroko_gym.topologies.base import MTU_BYTES, PortSpec, Topology

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


def tagged_host_class(prefix: str) -> type:
    """Mininet's Host whose shell (and so every command run in it) carries the env's tag."""
    from mininet.node import Host

    class TaggedHost(Host):
        def _popen(self, cmd: list[str], **params: Any) -> subprocess.Popen:
            params.setdefault("env", tagged_environ(prefix))
            return super()._popen(cmd, **params)

    return TaggedHost


class Backend:
    """One live emulated network built with Mininet nodes; a context manager. ``close()`` is idempotent.

    Holds what every kind shares: names under the env's prefix, the ownership record, the checks,
    processes started in hosts and teardown.  ``BridgedBackend`` and ``RoutedBackend`` build.
    """

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
    def check(self) -> None:
        """What this backend needs from the machine: Mininet, then root (subclasses add theirs)."""
        require_mininet()
        require_root()

    def start(self) -> None:
        """Build the network; on any failure remove what was built and raise EmulationError."""
        self.check()
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

    # -- what a backend kind defines -----------------------------------------------------------
    def _root_links(self) -> list[str]:
        """Links this backend creates in the root namespace (recorded before they exist)."""
        raise NotImplementedError

    @property
    def port_netns_paths(self) -> tuple[str | None, ...]:
        """Namespace of each port in ``Topology.ports`` order; None = the root namespace."""
        raise NotImplementedError

    def _build(self) -> None:
        """Create the nodes and links (``self.own`` holds the claimed prefix)."""
        raise NotImplementedError

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

    def __enter__(self) -> Backend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
