"""Benchmark iroko-tm: apply latency through the Python driver, and UDP rate accuracy.

Needs root.  Builds its own namespaces (prefix ``itmb<hex>``, one per host, joined in veth
pairs) and deletes exactly those at the end.  Prints a table and writes raw figures to
``bench/out/traffic_manager.json``.

    sudo .venv/bin/python bench/traffic_manager.py [--calls 2000] [--targets 4 16] [--accuracy]

Latency = one ``set_rates`` call: write the command, iroko-tm changes every class (all
rates change on every call), read ``ok <seq>``.  Target: p99 <= 2 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iroko_gym.dc.control import TrafficManager  # noqa: E402

P99_TARGET_S = 2e-3
UDP_PORT = 9999
UDP_PAYLOAD = 1400
UDP_WIRE_BYTES = UDP_PAYLOAD + 8 + 20 + 14


def ip(*args: str) -> None:
    """Run ``ip`` and fail with its stderr (not just the exit code) if it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        command = " ".join(["ip", *args])
        raise RuntimeError(f"{command} exited {result.returncode}: {result.stderr.strip()}")


@contextmanager
def hosts(count: int) -> Iterator[list[tuple[str, str]]]:
    """``count`` namespaces (even count) joined pairwise by veths; yields TM targets."""
    prefix = f"itmb{secrets.token_hex(2)}"
    made: list[str] = []
    try:
        targets = []
        for i in range(0, count, 2):
            a, b = f"{prefix}h{i}", f"{prefix}h{i + 1}"
            for name in (a, b):
                ip("netns", "add", name)
                made.append(name)
            ip("link", "add", f"{a}e", "netns", a, "type", "veth",
               "peer", "name", f"{b}e", "netns", b)
            for k, name in enumerate((a, b)):
                ip("-n", name, "addr", "add", f"10.78.{i // 2}.{k + 1}/24", "dev", f"{name}e")
                ip("-n", name, "link", "set", f"{name}e", "up")
            targets += [(f"/run/netns/{a}", f"{a}e"), (f"/run/netns/{b}", f"{b}e")]
        yield targets
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def summarize(latencies_s: np.ndarray) -> dict[str, float]:
    us = latencies_s * 1e6
    return {
        "calls": int(us.size),
        "mean_us": float(us.mean()),
        "p50_us": float(np.percentile(us, 50)),
        "p90_us": float(np.percentile(us, 90)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
    }


def bench_latency(n_targets: int, calls: int, changing: bool, seed: int) -> dict[str, object]:
    """Latency of ``calls`` set_rates calls; all rates change per call if ``changing``."""
    rng = np.random.default_rng(seed)
    with hosts(n_targets) as targets, TrafficManager(targets, 10_000_000) as tm:
        rates = rng.integers(1_000_000, 1_000_000_000, size=n_targets)
        for _ in range(50):  # warm-up: page faults, first netlink buffers
            rates = rates + 8
            tm.set_rates(rates)
        latencies = np.empty(calls)
        for k in range(calls):
            if changing:
                # Fresh random rates; bump any that equal the last one so every class changes.
                rates = rng.integers(1_000_000, 1_000_000_000, size=n_targets)
                rates[rates == tm.applied_rates_bps] += 8
            latencies[k] = tm.set_rates(rates)
    result: dict[str, object] = {"targets": n_targets, "all_changing": changing}
    result.update(summarize(latencies))
    return result


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
            pass
    """
)


def udp_rate(src_ns: str, dst_ns: str, dst_addr: str, duration_s: float = 2.5) -> float:
    """Wire bit/s seen by the receiver over the last ``duration_s - 0.5`` s of a UDP blast."""
    receiver = subprocess.Popen(
        ["ip", "netns", "exec", dst_ns, sys.executable, "-c", RECEIVER, str(UDP_PORT)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert receiver.stdout is not None
        receiver.stdout.readline()
        subprocess.run(
            ["ip", "netns", "exec", src_ns, sys.executable, "-c", SENDER, dst_addr,
             str(UDP_PORT), str(UDP_PAYLOAD), str(duration_s)],
            check=True, timeout=duration_s + 10,
        )
        out, _ = receiver.communicate(timeout=15)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    everything = json.loads(out)
    arrivals = [t for t in everything if t >= everything[0] + 0.5]
    return (len(arrivals) - 1) * UDP_WIRE_BYTES * 8 / (arrivals[-1] - arrivals[0])


def bench_accuracy(rates_bps: list[int], bursts: list[int | None]) -> list[dict[str, object]]:
    """UDP goodput vs class rate for each burst setting (None = iroko-tm's default)."""
    rows = []
    with hosts(2) as targets:
        src_ns, dst_ns = (Path(p).name for p, _ in targets)
        for burst in bursts:
            with TrafficManager(targets, 10_000_000, burst_bytes=burst) as tm:
                for rate in rates_bps:
                    tm.set_rates([rate, 1_000_000_000])
                    measured = udp_rate(src_ns, dst_ns, "10.78.0.2")
                    rows.append({
                        "burst_bytes": burst if burst is not None else "default",
                        "rate_bps": rate,
                        "measured_bps": measured,
                        "error_pct": 100 * (measured / rate - 1),
                    })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="set_rates calls per case")
    parser.add_argument("--targets", type=int, nargs="+", default=[4, 16], help="host counts")
    parser.add_argument("--accuracy", action="store_true", help="also measure UDP rate accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "traffic_manager.json")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces and qdiscs)")
    if args.calls < 1000:
        parser.error(f"--calls {args.calls}: use at least 1000 for a meaningful p99")
    if any(n < 2 or n % 2 for n in args.targets):
        parser.error(f"--targets {args.targets}: host counts must be even and >= 2")

    latency = []
    print(f"{'targets':>7} {'changing':>8} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'max us':>8}")
    for n in args.targets:
        for changing in (True, False):
            row = bench_latency(n, args.calls, changing, args.seed)
            latency.append(row)
            print(f"{n:>7} {str(changing):>8} {row['p50_us']:>8.0f} {row['p90_us']:>8.0f}"
                  f" {row['p99_us']:>8.0f} {row['max_us']:>8.0f}")
    worst_p99_us = max(r["p99_us"] for r in latency if r["all_changing"])  # type: ignore[type-var]
    verdict = "meets" if worst_p99_us <= P99_TARGET_S * 1e6 else "MISSES"
    print(f"worst p99 with all rates changing: {worst_p99_us:.0f} us ({verdict} the 2 ms target)")

    accuracy: list[dict[str, object]] = []
    if args.accuracy:
        print(f"\n{'burst':>8} {'rate Mbit/s':>11} {'measured':>9} {'error %':>8}")
        accuracy = bench_accuracy([10_000_000, 50_000_000, 200_000_000], [None, 3028])
        for r in accuracy:
            rate = float(r["rate_bps"])  # type: ignore[arg-type]
            measured = float(r["measured_bps"])  # type: ignore[arg-type]
            print(f"{r['burst_bytes']!s:>8} {rate / 1e6:>11.0f} {measured / 1e6:>9.2f}"
                  f" {r['error_pct']:>8.2f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count(),
                    "loadavg": os.getloadavg()},
        "p99_target_us": P99_TARGET_S * 1e6,
        "latency": latency,
        "accuracy": accuracy,
    }, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
