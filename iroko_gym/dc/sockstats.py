"""Per-flow kernel TCP statistics (rtt, cwnd, delivery rate, retransmits) through sock_diag.

One pyroute2 ``DiagSocket`` per host, created inside the host's network namespace (a netlink
socket stays bound to the namespace it was created in), asks for the established TCP sockets
with their ``tcp_info`` (INET_DIAG_INFO).  Only the sending side of the traffic generator's
connections is reported: sockets whose destination port is the generator's server port.
A read costs about 1 ms per host, so it runs once per step and only with ``socket_stats=True``.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from iroko_gym.dc.nlstats import in_netns

INET_DIAG_INFO = 2
TCP_ESTABLISHED = 1


@dataclass(frozen=True)
class SocketStats:
    """One sending TCP connection as the kernel sees it."""

    host: str
    dst: str
    sport: int
    rtt_ms: float
    min_rtt_ms: float
    cwnd_packets: int
    delivery_rate_bps: float
    retransmits: int
    bytes_acked: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SocketStatsReader:
    """Reads the generator's sending TCP sockets in every host namespace."""

    def __init__(self, hosts: Sequence[tuple[str, str]], server_port: int) -> None:
        from pyroute2 import DiagSocket

        self.server_port = server_port
        self._sockets: list[tuple[str, Any]] = []
        try:
            for name, netns_path in hosts:
                with in_netns(netns_path):
                    diag = DiagSocket()
                    diag.bind()
                self._sockets.append((name, diag))
        except BaseException:
            self.close()
            raise

    def read(self) -> list[SocketStats]:
        """Every established connection towards the server port, host by host."""
        out = []
        for host, diag in self._sockets:
            for msg in diag.get_sock_stats(family=socket.AF_INET, states=1 << TCP_ESTABLISHED,
                                           extensions=1 << (INET_DIAG_INFO - 1)):
                if msg["idiag_dport"] != self.server_port:
                    continue
                info = msg.get_attr("INET_DIAG_INFO")
                if info is None:
                    continue
                out.append(SocketStats(
                    host=host, dst=msg["idiag_dst"], sport=int(msg["idiag_sport"]),
                    rtt_ms=info["tcpi_rtt"] / 1000.0, min_rtt_ms=info["tcpi_min_rtt"] / 1000.0,
                    cwnd_packets=int(info["tcpi_snd_cwnd"]), delivery_rate_bps=float(info["tcpi_delivery_rate"]) * 8.0,
                    retransmits=int(info["tcpi_total_retrans"]), bytes_acked=int(info["tcpi_bytes_acked"])))
        return out

    def close(self) -> None:
        for _, diag in self._sockets:
            diag.close()
        self._sockets = []
