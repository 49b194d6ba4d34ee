"""iroko-tm against real namespaces: htb classes, error paths, cleanup and UDP throughput.

Each test gets two fresh namespaces joined by one veth pair, named with a random
``itm<hex>`` prefix; the fixture finalizer stops every traffic manager the test started
(they pin the namespaces) and deletes exactly those namespaces, pass or fail.  Namespaces and
the UDP measurement come from ``perf.netns``, which ``perf/traffic_manager.py`` measures with too.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyroute2 import NetNS

from iroko_gym.dc.traffic_manager import TrafficManager
from iroko_gym.errors import EmulationError
from perf.netns import join, namespaces, udp_wire_bps

log = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.emulation,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, qdiscs)"),
]

@dataclass
class NetPair:
    """Two namespaces a and b joined by veth a0 <-> b0, plus what the test started."""

    prefix: str
    managers: list[TrafficManager] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ns(self) -> tuple[str, str]:
        return f"{self.prefix}a", f"{self.prefix}b"

    @property
    def ifname(self) -> tuple[str, str]:
        return f"{self.prefix}a0", f"{self.prefix}b0"

    addr = ("10.77.0.1", "10.77.0.2")

    def targets(self) -> list[tuple[str, str]]:
        return [(f"/run/netns/{n}", i) for n, i in zip(self.ns, self.ifname)]

    def target_args(self) -> list[str]:
        return [f"{p}:{i}" for p, i in self.targets()]

    def manager(self, initial_rate_bps: int = 10_000_000, **kwargs: object) -> TrafficManager:
        tm = TrafficManager(self.targets(), initial_rate_bps, **kwargs)  # type: ignore[arg-type]
        self.managers.append(tm)
        return tm

    def popen(self, argv: list[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.processes.append(proc)
        return proc


@pytest.fixture
def net(tm_binary: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NetPair]:
    monkeypatch.setenv("IROKO_TM", str(tm_binary))
    pair = NetPair(prefix=f"itm{secrets.token_hex(2)}")
    with namespaces(pair.ns):
        try:
            join(pair.ns, pair.ifname, pair.addr)
            yield pair
        finally:
            # Managers and helpers before the namespaces: their sockets keep the namespaces alive.
            for tm in pair.managers:
                try:
                    tm.close()
                except EmulationError as exc:  # the test already checked what it needed; teardown goes on
                    log.warning("closing traffic manager pid %s in teardown: %s", tm.pid, exc)
            for proc in pair.processes:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()


def htb_state(ns: str, ifname: str) -> dict[str, object]:
    """Root qdisc kind/handle/default class and the htb classes' parameters, via netlink."""
    with NetNS(ns) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        roots = [q for q in ipr.get_qdiscs(index=index) if q["parent"] == 0xFFFFFFFF]
        state: dict[str, object] = {"kind": None, "handle": None, "defcls": None, "classes": {}}
        if roots:
            root = roots[0]
            state["kind"] = root.get("TCA_KIND")
            state["handle"] = root["handle"] >> 16
            if state["kind"] == "htb":
                state["defcls"] = root.get("TCA_OPTIONS").get("TCA_HTB_INIT")["defcls"]
        classes = {}
        for cls in ipr.get_classes(index=index):
            if cls.get("TCA_KIND") != "htb":
                continue
            parms = cls.get("TCA_OPTIONS").get("TCA_HTB_PARMS")
            handle = cls["handle"]
            classes[f"{handle >> 16:x}:{handle & 0xFFFF:x}"] = parms
        state["classes"] = classes
        return state


def burst_bytes(parms: dict[str, int]) -> float:
    """Convert htb's bucket (psched ticks at the class rate) back to bytes."""
    t2us, us2t = (int(x, 16) for x in Path("/proc/net/psched").read_text().split()[:2])
    return parms["buffer"] * us2t / t2us / 1e6 * parms["rate"]  # 1 tick = us2t/t2us us


def class_rates(net: NetPair, classid: str = "1:1") -> list[tuple[int, int]]:
    """(rate, ceil) in bytes/s of ``classid`` on each host interface."""
    out = []
    for ns, ifname in zip(net.ns, net.ifname):
        parms = htb_state(ns, ifname)["classes"][classid]  # type: ignore[index]
        out.append((parms["rate"], parms["ceil"]))
    return out


def test_start_installs_htb_root_with_initial_rate(net: NetPair) -> None:
    net.manager(10_000_000)
    for ns, ifname in zip(net.ns, net.ifname):
        state = htb_state(ns, ifname)
        assert (state["kind"], state["handle"], state["defcls"]) == ("htb", 1, 1)
        assert list(state["classes"]) == ["1:1"]  # type: ignore[call-overload]
    assert class_rates(net) == [(1_250_000, 1_250_000)] * 2


def test_set_rates_changes_rate_ceil_and_default_burst(net: NetPair) -> None:
    tm = net.manager(10_000_000)
    tm.set_rates([20_000_000, 300_000_000])
    assert class_rates(net) == [(2_500_000, 2_500_000), (37_500_000, 37_500_000)]
    a = htb_state(net.ns[0], net.ifname[0])["classes"]["1:1"]  # type: ignore[index]
    b = htb_state(net.ns[1], net.ifname[1])["classes"]["1:1"]  # type: ignore[index]
    # Default burst: 1 ms at the rate, at least two 1514-byte frames.
    assert burst_bytes(a) == pytest.approx(2 * 1514, rel=0.02)
    assert burst_bytes(b) == pytest.approx(37_500, rel=0.02)
    tm.set_rates([20_000_000, 8_000])  # only host b changes
    assert class_rates(net) == [(2_500_000, 2_500_000), (1_000, 1_000)]
    assert tm.applied_rates_bps.tolist() == [20_000_000, 8_000]


def test_fixed_burst_and_handle_major(net: NetPair) -> None:
    tm = net.manager(10_000_000, burst_bytes=20_000, handle_major=7)
    tm.set_rates([40_000_000, 100_000_000])
    for ns, ifname in zip(net.ns, net.ifname):
        state = htb_state(ns, ifname)
        assert (state["kind"], state["handle"]) == ("htb", 7)
        parms = state["classes"]["7:1"]  # type: ignore[index]
        assert burst_bytes(parms) == pytest.approx(20_000, rel=0.02)
    assert class_rates(net, "7:1") == [(5_000_000, 5_000_000), (12_500_000, 12_500_000)]


def test_bad_lines_get_err_and_the_process_keeps_running(net: NetPair, tm_binary: Path) -> None:
    proc = net.popen([str(tm_binary), *net.target_args()])
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == "ready 2\n"
    replies = {}
    for line in ["1 abc 5", "2 1000000", "3 0 8000000", "4 99999999999 8000000",
                 "x 1 2", "5 16000000 24000000"]:
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        replies[line] = proc.stdout.readline().rstrip("\n")
    assert replies["1 abc 5"] == "err 1 rate 0 'abc' is not a non-negative integer"
    assert replies["2 1000000"] == "err 2 expected 2 rates, got 1"
    assert replies["3 0 8000000"].startswith("err 3 rate 0: rate 0 bit/s")
    assert replies["4 99999999999 8000000"].startswith("err 4 rate 0: rate 99999999999 bit/s")
    assert replies["x 1 2"].startswith("err - sequence number 'x'")
    assert replies["5 16000000 24000000"] == "ok 5"
    assert class_rates(net) == [(2_000_000, 2_000_000), (3_000_000, 3_000_000)]
    _, err = proc.communicate("q\n", timeout=5)
    assert proc.returncode == 0, err
    # Without --cleanup the qdiscs stay (they vanish with the namespaces).
    assert htb_state(net.ns[0], net.ifname[0])["kind"] == "htb"


def test_driver_raises_on_err_and_keeps_working(net: NetPair) -> None:
    tm = net.manager(10_000_000)
    too_low = r"rate 100 bit/s is too low .* \(needs >= 2424 bit/s\)"
    with pytest.raises(EmulationError, match=too_low):
        tm.set_rates([100, 1_000_000])
    assert tm.applied_rates_bps.tolist() == [10_000_000, 10_000_000]
    tm.set_rates([2424, 1_000_000])  # the minimum the message names is accepted
    tm.set_rates([1_000_000, 2_000_000])
    assert class_rates(net) == [(125_000, 125_000), (250_000, 250_000)]


def test_sigkill_makes_next_set_rates_fail_promptly(net: NetPair) -> None:
    tm = net.manager(10_000_000, reply_timeout_s=1.0)
    tm.set_rates([1_000_000, 2_000_000])
    os.kill(tm.pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(EmulationError, match="exit code -9"):
        tm.set_rates([3_000_000, 4_000_000])
    assert time.monotonic() - start < 2.0
    tm.close()
    tm.close()


def test_cleanup_on_exit_removes_the_qdiscs(net: NetPair) -> None:
    tm = net.manager(10_000_000, cleanup_on_exit=True)
    assert htb_state(net.ns[0], net.ifname[0])["kind"] == "htb"
    tm.close()
    tm.close()
    for ns, ifname in zip(net.ns, net.ifname):
        state = htb_state(ns, ifname)
        assert state["kind"] != "htb"
        assert state["classes"] == {}


def test_restart_replaces_a_previous_htb_root(net: NetPair) -> None:
    net.manager(10_000_000).close()
    tm = net.manager(5_000_000)
    assert class_rates(net) == [(625_000, 625_000)] * 2
    tm.set_rates([8_000_000, 8_000_000])
    assert class_rates(net) == [(1_000_000, 1_000_000)] * 2


def test_missing_interface_exits_1_and_rolls_back(net: NetPair, tm_binary: Path) -> None:
    good = net.target_args()[0]
    missing = f"/run/netns/{net.ns[1]}:nope0"
    proc = net.popen([str(tm_binary), good, missing])
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert "nope0" in err and out == ""
    assert htb_state(net.ns[0], net.ifname[0])["kind"] != "htb"  # first target undone


@pytest.mark.parametrize("rate_bps", [10_000_000, 40_000_000])
def test_udp_throughput_follows_the_class_rate(net: NetPair, rate_bps: int) -> None:
    tm = net.manager(10_000_000)
    tm.set_rates([rate_bps, 1_000_000_000])
    measured = udp_wire_bps(net.ns[0], net.ns[1], net.addr[1])
    assert measured == pytest.approx(rate_bps, rel=0.10)
