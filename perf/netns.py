"""Throwaway network namespaces joined by veth pairs, and a UDP blast between two of them (root).

Shared by ``perf/traffic_manager.py`` (rate accuracy of iroko-tm) and
``tests/emulation/test_traffic_manager.py`` (UDP throughput follows the class rate), so that both
measure the same way: a receiver in one namespace timestamps every datagram, a sender in the
other offers more than the rate for ``duration_s``, and the rate is the wire bits the receiver saw
after a warm-up, as htb counts them (UDP + IPv4 + Ethernet headers).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

log = logging.getLogger(__name__)

UDP_PORT = 9999
UDP_PAYLOAD = 1400
UDP_WIRE_BYTES = UDP_PAYLOAD + 8 + 20 + 14  # UDP + IPv4 + Ethernet headers, as htb counts


def ip(*args: str) -> None:
    """Run ``ip`` and fail with its stderr (not just the exit code) if it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        command = " ".join(["ip", *args])
        raise RuntimeError(f"{command} exited {result.returncode}: {result.stderr.strip()}")


@contextmanager
def namespaces(names: Sequence[str]) -> Iterator[list[str]]:
    """Create the namespaces ``names``; delete exactly those that were created, pass or fail."""
    made: list[str] = []
    try:
        for name in names:
            ip("netns", "add", name)
            made.append(name)
        yield made
    finally:
        for name in made:
            result = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if result.returncode != 0:
                log.warning("could not delete namespace %s: %s", name, result.stderr.strip())


def join(ns: tuple[str, str], ifname: tuple[str, str], addr: tuple[str, str]) -> None:
    """A veth pair ``ifname[0]`` (in ``ns[0]``) <-> ``ifname[1]`` (in ``ns[1]``), addressed /24, up (lo too)."""
    ip("link", "add", ifname[0], "netns", ns[0], "type", "veth", "peer", "name", ifname[1], "netns", ns[1])
    for name, dev, address in zip(ns, ifname, addr):
        ip("-n", name, "addr", "add", f"{address}/24", "dev", dev)
        ip("-n", name, "link", "set", dev, "up")
        ip("-n", name, "link", "set", "lo", "up")


RECEIVER = textwrap.dedent(
    """
    import json, socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", int(sys.argv[1])))
    s.settimeout(5.0)
    print("listening", flush=True)
    arrivals = []
    try:
        while True:
            s.recv(65536)
            arrivals.append(time.monotonic())
            s.settimeout(0.5)
    except socket.timeout:
        pass
    print(json.dumps(arrivals), flush=True)
    """
)

SENDER = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dst, port, size, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    payload = b"x" * size
    end = time.monotonic() + duration
    while time.monotonic() < end:
        try:
            s.sendto(payload, (dst, port))
        except OSError:
            pass  # queue full: keep offering more than the rate
    """
)


def udp_wire_bps(src_ns: str, dst_ns: str, dst_addr: str, duration_s: float = 2.5, warmup_s: float = 0.5) -> float:
    """Blast UDP from ``src_ns`` to ``dst_addr`` in ``dst_ns``; the wire bit/s received after ``warmup_s``."""
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", dst_ns, sys.executable, "-c", RECEIVER, str(UDP_PORT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert receiver.stdout is not None
        ready = receiver.stdout.readline().strip()
        if ready != "listening":
            raise RuntimeError(f"UDP receiver in {dst_ns} did not start: {ready!r}")
        subprocess.run(
            ["ip", "netns", "exec", src_ns, sys.executable, "-c", SENDER, dst_addr,
             str(UDP_PORT), str(UDP_PAYLOAD), str(duration_s)],
            check=True, capture_output=True, timeout=duration_s + 10,
        )
        out, err = receiver.communicate(timeout=15)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    arrivals = json.loads(out)
    if not arrivals:
        raise RuntimeError(f"no datagram arrived in {dst_ns}; receiver stderr: {err}")
    window = [t for t in arrivals if t >= arrivals[0] + warmup_s]
    if len(window) <= 10:
        raise RuntimeError(f"only {len(window)} datagrams arrived in {dst_ns} after the {warmup_s} s warm-up")
    return (len(window) - 1) * UDP_WIRE_BYTES * 8 / (window[-1] - window[0])
