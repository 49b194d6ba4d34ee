"""Lean rtnetlink readers for the collector's hot path: qdisc queue stats and 64-bit link bytes.

pyroute2 parses every attribute of every message into Python objects (~0.6 ms per qdisc dump,
per namespace); a fat-tree's ports live in one namespace per router, so the collector needs a
cheaper read.  ``NetlinkStats`` sends the two dump requests itself and unpacks only the fields
it needs with ``struct`` (layouts from linux/rtnetlink.h, pkt_sched.h, gen_stats.h, if_link.h).
A socket is opened inside a target namespace by entering it (``setns``) only for the
``socket()`` call: a netlink socket stays bound to the namespace it was created in.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from contextlib import contextmanager
from typing import Iterator

from iroko_gym.errors import EmulationError

CLONE_NEWNET = 0x40000000
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_NEWQDISC, RTM_GETQDISC = 36, 38
RTM_NEWSTATS, RTM_GETSTATS = 92, 94
TCA_STATS2, TCA_STATS_QUEUE = 7, 3
IFLA_STATS_LINK_64 = 1
TC_H_ROOT = 0xFFFFFFFF

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
_IF_STATS_MSG = struct.Struct("=BxHII")  # family, pad, ifindex, filter_mask
_RTATTR = struct.Struct("=HH")  # len, type
_QUEUE = struct.Struct("=IIIII")  # qlen, backlog, drops, requeues, overlimits
_BYTES = struct.Struct("=QQ")  # rx_bytes, tx_bytes (after rx_packets, tx_packets)

_libc = ctypes.CDLL(None, use_errno=True)


@contextmanager
def in_netns(path: str | None) -> Iterator[None]:
    """Run the body with the calling thread inside the network namespace at ``path`` (None: stay)."""
    if path is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
    except OSError as exc:
        os.close(home)
        raise EmulationError(f"network namespace {path} is gone: {exc}") from exc
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise EmulationError(f"setns({path}) failed: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise EmulationError(f"could not return to the original namespace: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(target)
        os.close(home)


def _find_attr(buf: memoryview, off: int, end: int, want: int) -> tuple[int, int] | None:
    """(payload offset, payload end) of the first rtattr of type ``want`` in ``buf[off:end]``."""
    unpack = _RTATTR.unpack_from
    while off + 4 <= end:
        length, kind = unpack(buf, off)
        if length < 4:
            return None
        if kind & 0x3FFF == want:
            return off + 4, off + length
        off += (length + 3) & ~3
    return None


class NetlinkStats:
    """One NETLINK_ROUTE socket in one namespace, reading queue stats and byte counters by ifindex."""

    def __init__(self, netns_path: str | None = None) -> None:
        self.netns_path = netns_path
        with in_netns(netns_path):
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._seq = 0
        self._buf = bytearray(1 << 16)

    def ifindices(self, ifnames: list[str]) -> list[int]:
        """Index of each interface in this socket's namespace (at setup: not on the hot path)."""
        out = []
        with in_netns(self.netns_path):
            for name in ifnames:
                try:
                    out.append(socket.if_nametoindex(name))
                except OSError:
                    raise EmulationError(f"switch port {name!r} does not exist in {self.netns_path or 'the root namespace'}") from None
        return out

    def _dump(self, msg_type: int, body: bytes) -> Iterator[tuple[int, memoryview, int, int]]:
        """Yield (type, buffer, payload offset, message end) of every message of one dump."""
        self._seq += 1
        self._sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, self._seq, 0) + body)
        view = memoryview(self._buf)
        while True:
            n = self._sock.recv_into(self._buf)
            off = 0
            while off + _NLMSGHDR.size <= n:
                length, kind, _, seq, _ = _NLMSGHDR.unpack_from(view, off)
                if length < _NLMSGHDR.size:
                    raise EmulationError(f"malformed netlink message (length {length})")
                if off + length > n:
                    break  # cut short: never read its attributes from an earlier dump's bytes
                if seq == self._seq:
                    if kind == NLMSG_DONE:
                        return
                    if kind == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", view, off + _NLMSGHDR.size)
                        if code:
                            raise EmulationError(f"netlink dump {msg_type} failed: {os.strerror(-code)}")
                        return
                    yield kind, view, off + _NLMSGHDR.size, off + length
                off += (length + 3) & ~3

    def queues(self) -> Iterator[tuple[int, int, int, int]]:
        """(ifindex, backlog bytes, drops, overlimits) of every root qdisc."""
        for kind, buf, off, end in self._dump(RTM_GETQDISC, _TCMSG.pack(0, 0, 0, 0, 0)):
            if kind != RTM_NEWQDISC:
                continue
            _, ifindex, _, parent, _ = _TCMSG.unpack_from(buf, off)
            if parent != TC_H_ROOT:
                continue
            stats2 = _find_attr(buf, off + _TCMSG.size, end, TCA_STATS2)
            queue = stats2 and _find_attr(buf, stats2[0], stats2[1], TCA_STATS_QUEUE)
            if queue:
                _, backlog, drops, _, over = _QUEUE.unpack_from(buf, queue[0])
                yield ifindex, backlog, drops, over

    def link_bytes(self) -> Iterator[tuple[int, int, int]]:
        """(ifindex, tx bytes, rx bytes) of every link, from RTM_GETSTATS (IFLA_STATS_LINK_64)."""
        for kind, buf, off, end in self._dump(RTM_GETSTATS, _IF_STATS_MSG.pack(0, 0, 0, 1 << (IFLA_STATS_LINK_64 - 1))):
            if kind != RTM_NEWSTATS:
                continue
            _, _, ifindex, _ = _IF_STATS_MSG.unpack_from(buf, off)
            link64 = _find_attr(buf, off + _IF_STATS_MSG.size, end, IFLA_STATS_LINK_64)
            if link64:
                rx, tx = _BYTES.unpack_from(buf, link64[0] + 16)
                yield ifindex, tx, rx

    def close(self) -> None:
        self._sock.close()
