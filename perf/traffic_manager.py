"""Benchmark iroko-tm: apply latency through the Python driver, and UDP rate accuracy.

Needs root.  Builds its own namespaces (prefix ``itmb<hex>``, one per host, joined in veth
pairs) and deletes exactly those at the end.  Prints a table and writes raw figures to
``perf/out/traffic_manager.json``.

    sudo .venv/bin/python -m perf.traffic_manager [--calls 2000] [--targets 4 16] [--accuracy]

Latency = one ``set_rates`` call: write the command, iroko-tm changes every class (all
rates change on every call), read ``ok <seq>``.  Target: p99 <= 2 ms.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from iroko_gym.dc.traffic_manager import TrafficManager
from perf._common import OUT_DIR, percentiles, write_result
from perf.netns import join, namespaces, udp_wire_bps

P99_TARGET_S = 2e-3


@contextmanager
def hosts(count: int) -> Iterator[list[tuple[str, str]]]:
    """``count`` namespaces (even count) joined pairwise by veths; yields TM targets."""
    prefix = f"itmb{secrets.token_hex(2)}"
    with namespaces([f"{prefix}h{i}" for i in range(count)]):
        targets = []
        for i in range(0, count, 2):
            a, b = f"{prefix}h{i}", f"{prefix}h{i + 1}"
            join((a, b), (f"{a}e", f"{b}e"), (f"10.78.{i // 2}.1", f"10.78.{i // 2}.2"))
            targets += [(f"/run/netns/{a}", f"{a}e"), (f"/run/netns/{b}", f"{b}e")]
        yield targets


def summarize(latencies_s: np.ndarray) -> dict[str, float]:
    stats = percentiles(latencies_s * 1e6, "mean", "p50", "p90", "p99", "max")
    return {"calls": int(latencies_s.size), **{f"{name}_us": value for name, value in stats.items()}}


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


def bench_accuracy(rates_bps: list[int], bursts: list[int | None]) -> list[dict[str, object]]:
    """UDP goodput vs class rate for each burst setting (None = iroko-tm's default)."""
    rows = []
    with hosts(2) as targets:
        src_ns, dst_ns = (Path(p).name for p, _ in targets)
        for burst in bursts:
            with TrafficManager(targets, 10_000_000, burst_bytes=burst) as tm:
                for rate in rates_bps:
                    tm.set_rates([rate, 1_000_000_000])
                    measured = udp_wire_bps(src_ns, dst_ns, "10.78.0.2")
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
    parser.add_argument("--out", type=Path, default=OUT_DIR / "traffic_manager.json")
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

    out = write_result("traffic_manager", {"p99_target_us": P99_TARGET_S * 1e6, "latency": latency,
                                           "accuracy": accuracy}, args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
