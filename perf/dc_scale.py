"""DCEnv at data-center scale: fat-tree cold start, step overhead, all-to-all throughput.

Measures (root + Mininet):
- cold start (``gymnasium.make`` -> first observation) of fat-tree k=4 (16 hosts, 20 routers)
  and k=8 (128 hosts, 80 routers);
- step overhead beyond the step interval (p50/p99) at 16 and 128 hosts, random actions;
- all-to-all with long-lived TCP flows at k=4: aggregate delivered throughput vs the ideal
  (every host receiving at its link rate), next to the same run on the non-blocking switch.

k=8 runs at ``--k8-capacity-mbps`` (default 1 Mbit/s per link): 128 hosts at 10 Mbit/s push
1.28 Gbit/s through six router hops, which two shared cores cannot forward.

    sudo -E .venv/bin/python -m perf.dc_scale [--quick]

Prints the figures and writes them to perf/out/dc_scale.json.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401
from perf._common import OUT_DIR, step_overhead, write_result

TARGETS = {"cold_start_k4_s": 10.0, "step_overhead_p99_16_hosts_ms": 5.0}


@dataclass(frozen=True)
class Args:
    steps: int = 300
    """steps timed for overhead at 16 hosts (a third of it at 128 hosts)"""
    repeats: int = 3
    """cold starts of k=4"""
    alltoall_steps: int = 50
    """measured steps of the all-to-all run (after 10 warm-up steps)"""
    k8_capacity_mbps: float = 1.0
    out: str = str(OUT_DIR / "dc_scale.json")


def fattree(k: int, capacity_mbps: float, **kwargs: object) -> gym.Env:
    return gym.make("dc-iroko-v0", topology="fattree", topology_params={"k": k}, capacity_mbps=capacity_mbps, **kwargs)


def cold_start(k: int, capacity_mbps: float, repeats: int) -> dict:
    starts, closes = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        env = fattree(k, capacity_mbps, pattern="stride", pattern_params={"stride": k * k // 8 or 1})
        env.reset(seed=i)
        starts.append(time.perf_counter() - t0)
        env.step(env.action_space.sample())  # it must also step
        t0 = time.perf_counter()
        env.close()
        closes.append(time.perf_counter() - t0)
    return {"k": k, "hosts": k ** 3 // 4, "capacity_mbps": capacity_mbps, "cold_start_s": starts, "close_s": closes}


def fattree_step_overhead(k: int, capacity_mbps: float, steps: int) -> dict:
    env = fattree(k, capacity_mbps, pattern="stride", pattern_params={"stride": k * k // 8 or 1}, max_steps=steps + 1)
    return {"k": k, "hosts": k ** 3 // 4, "ports": len(env.unwrapped.topology.ports), **step_overhead(env, steps)}


def all_to_all(topology: str, params: dict, steps: int) -> dict:
    env = gym.make("dc-iroko-v0", topology=topology, topology_params=params, pattern="all_to_all", max_steps=steps + 20)
    try:
        env.reset(seed=0)
        full = np.ones(env.action_space.shape, dtype=np.float32)
        for _ in range(10):
            env.step(full)
        rx = np.array([env.step(full)[4]["host_rx_bps"] for _ in range(steps)])
        capacity = np.array([env.unwrapped.topology.host_capacity_mbps(h.name) * 1e6 for h in env.unwrapped.topology.hosts])
    finally:
        env.close()
    delivered = float(rx.sum(axis=1).mean())
    return {"topology": topology, "params": params, "hosts": len(capacity), "delivered_mbps": delivered / 1e6,
            "ideal_mbps": float(capacity.sum()) / 1e6, "fraction_of_ideal": delivered / float(capacity.sum()),
            "per_host_min_fraction": float((rx.mean(axis=0) / capacity).min())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    p.add_argument("--out", default=Args.out)
    p.add_argument("--k8-capacity-mbps", type=float, default=Args.k8_capacity_mbps)
    a = p.parse_args()
    args = Args(steps=60, repeats=1, alltoall_steps=15, k8_capacity_mbps=a.k8_capacity_mbps, out=a.out) if a.quick else \
        Args(k8_capacity_mbps=a.k8_capacity_mbps, out=a.out)

    result: dict = {"args": asdict(args), "targets": TARGETS}
    result["cold_start"] = [cold_start(4, 10.0, args.repeats), cold_start(8, args.k8_capacity_mbps, 1)]
    for c in result["cold_start"]:
        print(f"cold start fat-tree k={c['k']} ({c['hosts']} hosts, {c['capacity_mbps']:g} Mbit/s): "
              f"{', '.join(f'{s:.2f}' for s in c['cold_start_s'])} s; close {max(c['close_s']):.2f} s")
    result["step_overhead"] = [fattree_step_overhead(4, 10.0, args.steps),
                               fattree_step_overhead(8, args.k8_capacity_mbps, args.steps // 3)]
    for s in result["step_overhead"]:
        print(f"step overhead {s['hosts']} hosts / {s['ports']} ports over {s['steps']} steps: "
              f"p50 {s['step_overhead_ms']['p50']:.2f} ms, p99 {s['step_overhead_ms']['p99']:.2f} ms "
              f"(apply p99 {s['apply_latency_ms']['p99']:.2f} ms)")
    result["all_to_all"] = [all_to_all("fattree", {"k": 4}, args.alltoall_steps),
                            all_to_all("nonblock", {"num_hosts": 16}, args.alltoall_steps)]
    for r in result["all_to_all"]:
        print(f"all-to-all on {r['topology']} ({r['hosts']} hosts): {r['delivered_mbps']:.1f} of {r['ideal_mbps']:.0f} Mbit/s "
              f"= {100 * r['fraction_of_ideal']:.1f} % of ideal (worst host {100 * r['per_host_min_fraction']:.0f} %)")
    k4 = result["cold_start"][0]["cold_start_s"]
    print(f"targets: cold start k=4 <= {TARGETS['cold_start_k4_s']} s: {max(k4):.2f} s; "
          f"step overhead p99 at 16 hosts <= {TARGETS['step_overhead_p99_16_hosts_ms']} ms: "
          f"{result['step_overhead'][0]['step_overhead_ms']['p99']:.2f} ms")
    print(f"wrote {write_result('dc_scale', result, args.out)}")


if __name__ == "__main__":
    main()
