"""Speed of the live cache: accesses/s end to end and the sidecar's decision latency (p50/p99).

    .venv/bin/python -m perf.xcache_deployment [--length 4000] [--out FILE]   (perf/out/xcache_deployment.json)

Each case runs the whole deployment (``iroko_gym.xcache.deploy.run``: private redis-server, sidecar
process, load generator on a real directory, and the remote learner when the actor is remote) on
the bundled trace with a 2 TB cache.  Cases: local policy vs remote actor, lock step (window 1)
vs pipelined (window 32) vs fire-and-forget (window 0), Redis fsync always vs everysec.  The
decision latency is measured in the sidecar, from a datagram's arrival to its answer being
stored in Redis (cleanup included).  The offline ``Cache-v0`` hit rate of the same policy is
printed beside the live one.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import gymnasium as gym

import iroko_gym  # noqa: F401  (registers Cache-v0)
from iroko_gym.xcache.deploy import DeployOptions, run
from perf._common import write_result

SIZE_TB = 2.0
CASES = (  # (name, remote actor, window, fsync)
    ("policy, lock step, fsync everysec", False, 1, "everysec"),
    ("remote, lock step, fsync everysec", True, 1, "everysec"),
    ("policy, window 32, fsync everysec", False, 32, "everysec"),
    ("remote, window 32, fsync everysec", True, 32, "everysec"),
    ("policy, lock step, fsync always", False, 1, "always"),
    ("remote, lock step, fsync always", True, 1, "always"),
    ("policy, window 0 (never waits), fsync everysec", False, 0, "everysec"),
)


def offline_hit_rate(length: int) -> float:
    """``Cache-v0`` with the always-keep policy (the live cases' local policy)."""
    env = gym.make("Cache-v0", cache_size_tb=SIZE_TB, length=length)
    env.reset(seed=0)
    terminated, info = False, {}
    while not terminated:
        _, _, terminated, _, info = env.step(1)
    env.close()
    return float(info["file_hit_rate"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4000, help="accesses per case")
    parser.add_argument("--out", type=Path, help="default perf/out/xcache_deployment.json")
    args = parser.parse_args()
    offline = offline_hit_rate(args.length)
    print(f"offline Cache-v0 hit rate (always keep, {args.length} accesses, {SIZE_TB} TB): {offline:.4f}")
    print(f"{'case':<48} {'acc/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'hit rate':>9} {'lost':>5} {'purged':>6}")
    results = []
    for name, remote, window, fsync in CASES:
        actor = ("--actor", "remote", "--rollout-steps", "256") if remote else ("--actor", "policy",
                                                                              "--policy", "always-keep")
        options = DeployOptions(cache_size_tb=SIZE_TB, length=args.length, window=window, redis_fsync=fsync,
                                remote_actor=remote, actor_argv=actor)
        s = run(options, threading.Event(), announce=lambda line: None)
        side = s["sidecar"]
        row = {"case": name, "remote_actor": remote, "window": window, "fsync": fsync,
               "accesses_per_s": s["accesses_per_s"], "latency_p50_ms": side.get("latency_p50_ms"),
               "latency_p99_ms": side.get("latency_p99_ms"), "hit_rate": s["hit_rate"],
               "offline_hit_rate": offline, "lost": s["stored"]["lost"],
               "cache_purged_files": s["cache_purged_files"], "actor": s["actor"]}
        results.append(row)
        print(f"{name:<48} {row['accesses_per_s']:>7.0f} {row['latency_p50_ms']:>7.2f} "
              f"{row['latency_p99_ms']:>7.2f} {row['hit_rate']:>9.4f} {row['lost']:>5} "
              f"{row['cache_purged_files']:>6}", flush=True)
    path = write_result("xcache_deployment", {"length": args.length, "cache_size_tb": SIZE_TB,
                                               "offline_hit_rate": offline, "cases": results}, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
