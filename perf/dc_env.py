"""DCEnv timing and accuracy on the real emulated dumbbell (root needed).

Measures: cold start (make -> first observation), reset, close; step overhead beyond the step
interval (p50/p99) at the default 100 ms and, on a 1 Gbit/s dumbbell, at 5, 10 and 20 ms, without
and with the env's ``warm_up_ms`` (issue 12's training setting: the overhead is what a fast step
loses); action-to-rate-applied latency (p50/p99); rate accuracy (commanded vs measured sending
rate, 10 %..100 % of capacity, TCP and UDP).  Prints the figures next to their targets and the
load average, and writes them to perf/out/dc_env.json.  The machine's load moves the p99 a lot:
compare runs at similar load.

    sudo -E .venv/bin/python -m perf.dc_env [--steps 500] [--quick] [--only-overhead]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401
from perf._common import percentiles, step_overhead, write_result

TARGETS = {"cold_start_s": 3.0, "step_overhead_p99_ms": 5.0, "apply_latency_p99_ms": 2.0, "rate_error_max_pct": 5.0,
           "fast_step_overhead_p50_ms": 0.5, "fast_step_overhead_p99_ms": 1.0}
#: Step intervals of the 1 Gbit/s overhead sweep (ms).
FAST_INTERVALS_MS = (5.0, 10.0, 20.0)
#: The env's ``warm_up_ms`` in the sweep: off, then the value docs/results.md reports.
WARM_UPS_MS = (0.0, 1.0)


@dataclass(frozen=True)
class Args:
    steps: int
    starts: int
    only_overhead: bool
    fractions: tuple[float, ...]
    settle_steps: int
    measure_steps: int


def parse_args() -> Args:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=500, help="steps timed for overhead and apply latency")
    p.add_argument("--starts", type=int, default=5, help="cold starts timed")
    p.add_argument("--quick", action="store_true", help="fewer steps and rate points (a smoke run)")
    p.add_argument("--only-overhead", action="store_true", help="only the 1 Gbit/s step-overhead sweep")
    ns = p.parse_args()
    if ns.quick:
        return Args(50, 2, ns.only_overhead, (0.1, 0.5, 1.0), 5, 10)
    return Args(ns.steps, ns.starts, ns.only_overhead, tuple(np.round(np.arange(0.1, 1.01, 0.1), 2)), 10, 20)


def lifecycle(args: Args) -> dict:
    cold, resets, closes = [], [], []
    for i in range(args.starts):
        t0 = time.perf_counter()
        env = gym.make("dc-iroko-v0")
        env.reset(seed=i)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.reset(seed=i + 100)
        resets.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.close()
        closes.append(time.perf_counter() - t0)
    return {"cold_start_s": percentiles(cold, "p50", "max"), "reset_s": percentiles(resets, "p50", "max"),
            "close_s": percentiles(closes, "p50", "max")}


def accuracy(args: Args, transport: str) -> list[dict]:
    """One sender alone across the bottleneck: its measured rate vs the commanded fraction."""
    env = gym.make("dc-iroko-v0", transport=transport, pattern="incast", pattern_params={"senders": 1},
                   max_steps=10_000)
    rows = []
    try:
        env.reset(seed=0)
        sender = env.unwrapped.topology.host(env.unwrapped.current_pattern.flows[0].src).index
        capacity = env.unwrapped.topology.host_capacity_mbps(env.unwrapped.current_pattern.flows[0].src) * 1e6
        for frac in args.fractions:
            action = np.full(env.action_space.shape, env.action_space.low[0], dtype=np.float32)
            action[sender] = frac
            for _ in range(args.settle_steps):
                env.step(action)
            infos = [env.step(action)[4] for _ in range(args.measure_steps)]
            # bits over time across the whole measurement, not a mean of per-interval rates
            measured = sum(i["host_tx_bps"][sender] * i["interval_s"] for i in infos) / sum(i["interval_s"] for i in infos)
            commanded = frac * capacity
            rows.append({"transport": transport, "fraction": float(frac), "commanded_bps": commanded,
                         "measured_bps": measured, "error_pct": abs(measured - commanded) / commanded * 100})
    finally:
        env.close()
    return rows


def fast_dumbbell(interval_ms: float, steps: int, warm_up_ms: float) -> gym.Env:
    """The 1 Gbit/s dumbbell of the fast-step figures, stepping every ``interval_ms`` for ``steps`` steps."""
    return gym.make("dc-iroko-v0", capacity_mbps=1000.0, step_interval_ms=interval_ms,
                    sample_interval_ms=min(interval_ms, 10.0), max_steps=steps + 1, warm_up_ms=warm_up_ms)


def fast_overhead(args: Args) -> list[dict]:
    """Step overhead on the 1 Gbit/s dumbbell at each of :data:`FAST_INTERVALS_MS`, for each of :data:`WARM_UPS_MS`."""
    rows = []
    for warm_up in WARM_UPS_MS:
        for interval in FAST_INTERVALS_MS:
            env = fast_dumbbell(interval, args.steps, warm_up)
            rows.append({"load_avg_1m": os.getloadavg()[0], "warm_up_ms": warm_up, **step_overhead(env, args.steps)})
    return rows


def print_fast(rows: list[dict]) -> None:
    for r in rows:
        o = r["step_overhead_ms"]
        print(f"1 Gbit/s, {r['step_interval_ms']:.0f} ms steps, warm_up_ms {r['warm_up_ms']:g}: "
              f"overhead p50 {o['p50']:.2f} ms, p99 {o['p99']:.2f} ms "
              f"(targets <= {TARGETS['fast_step_overhead_p50_ms']} / {TARGETS['fast_step_overhead_p99_ms']} ms; "
              f"load average {r['load_avg_1m']:.2f})")


def main() -> None:
    args = parse_args()
    result: dict = {"targets": TARGETS}
    result["fast_stepping"] = fast_overhead(args)
    if args.only_overhead:
        print_fast(result["fast_stepping"])
        print(f"wrote {write_result('dc_env_overhead', result)}")
        return
    result["lifecycle"] = lifecycle(args)
    result["stepping"] = step_overhead(gym.make("dc-iroko-v0", max_steps=args.steps + 1), args.steps)
    result["rate_accuracy"] = accuracy(args, "udp") + accuracy(args, "tcp")
    worst = {t: max(r["error_pct"] for r in result["rate_accuracy"] if r["transport"] == t) for t in ("udp", "tcp")}
    result["rate_error_max_pct"] = worst
    out = write_result("dc_env", result)

    lc, st = result["lifecycle"], result["stepping"]
    print(f"cold start (make -> first obs): p50 {lc['cold_start_s']['p50']:.2f} s, max {lc['cold_start_s']['max']:.2f} s"
          f"   (target <= {TARGETS['cold_start_s']} s)")
    print(f"reset: p50 {lc['reset_s']['p50'] * 1e3:.0f} ms   close: p50 {lc['close_s']['p50'] * 1e3:.0f} ms")
    print(f"step overhead beyond {st['step_interval_ms']:.0f} ms over {st['steps']} steps: p50 {st['step_overhead_ms']['p50']:.2f} ms, "
          f"p99 {st['step_overhead_ms']['p99']:.2f} ms   (target p99 <= {TARGETS['step_overhead_p99_ms']} ms)")
    print(f"apply latency: p50 {st['apply_latency_ms']['p50']:.3f} ms, p99 {st['apply_latency_ms']['p99']:.3f} ms"
          f"   (target p99 <= {TARGETS['apply_latency_p99_ms']} ms)")
    for row in result["rate_accuracy"]:
        print(f"  {row['transport']} {row['fraction']:.1f} x capacity: commanded {row['commanded_bps'] / 1e6:5.2f} Mbit/s, "
              f"measured {row['measured_bps'] / 1e6:5.2f} Mbit/s, error {row['error_pct']:.1f} %")
    print_fast(result["fast_stepping"])
    print(f"rate error, worst: UDP {worst['udp']:.1f} %, TCP {worst['tcp']:.1f} %   (target <= {TARGETS['rate_error_max_pct']} %)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
