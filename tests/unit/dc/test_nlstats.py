"""nlstats' hand-written netlink parser, replayed on kernel dumps recorded by fixtures/record_nlstats.py.

The recording holds the datagrams the kernel returned to ``NetlinkStats`` for its two dumps in a
namespace with a veth pair and a busy tbf (see the recorder's docstring). A replay socket feeds
them back, so the whole read path (sequence check, message walk, attribute search) runs without
root; pyroute2 parsing the same bytes is the reference.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from iroko_gym.dc.nlstats import (
    NLMSG_ERROR,
    RTM_NEWQDISC,
    RTM_NEWSTATS,
    TC_H_ROOT,
    NetlinkStats,
)
from iroko_gym.errors import EmulationError

RECORDING = json.loads((Path(__file__).parent / "fixtures" / "nlstats_recording.json").read_text())
IFINDEX = RECORDING["interfaces"]
QDISC = [bytes.fromhex(d) for d in RECORDING["qdisc_dump"]["datagrams"]]
LINK = [bytes.fromhex(d) for d in RECORDING["link_stats_dump"]["datagrams"]]


class ReplaySocket:
    """Hands out recorded datagrams one per ``recv_into``, as a netlink socket would."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.datagrams = list(datagrams)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def recv_into(self, buf: bytearray) -> int:
        if not self.datagrams:
            raise AssertionError("the parser asked for more datagrams than the dump holds (it would block)")
        data = self.datagrams.pop(0)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        pass


def replay(datagrams: list[bytes]) -> tuple[NetlinkStats, ReplaySocket]:
    stats = NetlinkStats()  # an unprivileged NETLINK_ROUTE socket in this namespace, swapped out at once
    stats._sock.close()
    fake = ReplaySocket(datagrams)
    stats._sock = fake  # type: ignore[assignment]
    return stats, fake


def messages(datagram: bytes) -> list[bytes]:
    """Split one datagram into its netlink messages (aligned lengths from each header)."""
    out, off = [], 0
    while off < len(datagram):
        (length,) = struct.unpack_from("=I", datagram, off)
        out.append(datagram[off : off + ((length + 3) & ~3)])
        off += (length + 3) & ~3
    return out


def pyroute2_queues(datagrams: list[bytes]) -> list[tuple[int, int, int, int]]:
    out = []
    for msg in MarshalRtnl().parse(b"".join(datagrams)):
        if msg["header"]["type"] == RTM_NEWQDISC and msg["parent"] == TC_H_ROOT:
            queue = msg.get_attr("TCA_STATS2").get_attr("TCA_STATS_QUEUE")
            out.append((msg["index"], queue["backlog"], queue["drops"], queue["overlimits"]))
    return out


def pyroute2_link_bytes(datagrams: list[bytes]) -> list[tuple[int, int, int]]:
    out = []
    for msg in MarshalRtnl().parse(b"".join(datagrams)):
        if msg["header"]["type"] == RTM_NEWSTATS:
            link64 = msg.get_attr("IFLA_STATS_LINK_64")
            out.append((msg["ifindex"], link64["tx_bytes"], link64["rx_bytes"]))
    return out


def test_recording_is_a_busy_tbf_in_multi_message_datagrams():
    # Guards the fixture itself: if a re-recording lost the backlog, the tests below prove less.
    assert len(messages(QDISC[0])) >= 4  # lo, peer, tbf root, pfifo child in one datagram
    assert len(messages(LINK[0])) >= 4  # three links and NLMSG_DONE in one datagram
    tbf = {q[0]: q for q in pyroute2_queues(QDISC)}[IFINDEX["tbf"]]
    assert tbf[1] > 0 and tbf[2] > 0 and tbf[3] > 0


def test_queues_match_pyroute2_and_skip_non_root_qdiscs():
    stats, sock = replay(QDISC)
    got = list(stats.queues())
    assert sock.sent == [bytes.fromhex(RECORDING["qdisc_dump"]["request"])]
    assert got == pyroute2_queues(QDISC)
    assert got == [tuple(row) for row in RECORDING["qdisc_dump"]["parsed_at_recording"]]
    # The pfifo child of the tbf (parent 1:1) is in the dump but is not reported.
    children = [m for m in MarshalRtnl().parse(b"".join(QDISC)) if m["header"]["type"] == RTM_NEWQDISC and m["parent"] != TC_H_ROOT]
    assert [m["index"] for m in children] == [IFINDEX["tbf"]]
    assert [q[0] for q in got].count(IFINDEX["tbf"]) == 1


def test_link_bytes_match_pyroute2_and_the_veth_pair_agrees():
    stats, sock = replay(LINK)
    got = list(stats.link_bytes())
    assert sock.sent == [bytes.fromhex(RECORDING["link_stats_dump"]["request"])]
    assert got == pyroute2_link_bytes(LINK)
    by_index = {ifindex: (tx, rx) for ifindex, tx, rx in got}
    # What one end of a veth sends, the other receives.
    assert by_index[IFINDEX["tbf"]] == by_index[IFINDEX["peer"]][::-1]
    assert by_index[IFINDEX["tbf"]][0] > 0


def test_every_interface_is_reported_and_the_caller_picks_its_own():
    # nlstats does not filter by interface: lo and the veth peer come back too; the collector
    # keeps only the ifindices it looked up (collector.py: ``pos.get(ifindex)``).
    stats, _ = replay(QDISC)
    assert {q[0] for q in stats.queues()} == {IFINDEX["lo"], IFINDEX["peer"], IFINDEX["tbf"]}
    wanted = {IFINDEX["tbf"]: 0}
    stats, _ = replay(LINK)
    picked = [(wanted[i], tx, rx) for i, tx, rx in stats.link_bytes() if i in wanted]
    assert len(picked) == 1


def test_one_message_per_datagram_parses_the_same():
    split = [m for d in QDISC for m in messages(d)]
    assert len(split) > len(QDISC)
    stats, sock = replay(split)
    assert list(stats.queues()) == pyroute2_queues(QDISC)
    assert sock.datagrams == []  # read up to and including NLMSG_DONE, no further


def test_messages_of_another_request_are_ignored():
    # A stale reply (sequence 1) arriving before the answer to the second request (sequence 2).
    stale = QDISC[0]
    current = [bytearray(m) for d in LINK for m in messages(d)]
    for m in current:
        struct.pack_into("=I", m, 8, 2)
    stats, _ = replay([bytes(m) for m in current])
    stats._seq = 1
    stats._sock.datagrams.insert(0, stale)  # type: ignore[attr-defined]
    assert list(stats.link_bytes()) == pyroute2_link_bytes(LINK)


def test_header_shorter_than_nlmsghdr_is_an_error():
    bad = bytearray(QDISC[0])
    struct.pack_into("=I", bad, 0, 8)
    stats, _ = replay([bytes(bad)])
    with pytest.raises(EmulationError, match="malformed netlink message"):
        list(stats.queues())


def test_message_cut_short_is_skipped_and_the_earlier_ones_kept():
    # A datagram that ends inside the tbf's message: the complete lo and peer messages parse; the
    # tbf's attributes are not there, so it is not reported (nothing is read from beyond the cut
    # in this fresh buffer).
    first, second, tbf = messages(QDISC[0])[:3]
    cut = first + second + tbf[: len(tbf) // 2]
    stats, _ = replay([cut, QDISC[-1]])
    assert list(stats.queues()) == pyroute2_queues(QDISC)[:2]


def test_kernel_error_reply_is_raised():
    # NLMSG_ERROR carrying -EOPNOTSUPP (95) for our request (sequence 1).
    err = struct.pack("=IHHII", 36, NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -95) + bytes(16)
    stats, _ = replay([err])
    with pytest.raises(EmulationError, match="not supported"):
        list(stats.queues())
