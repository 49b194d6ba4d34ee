"""Speed of warm starts and of ``Cache-v1``: what a warm window costs at make and at reset.

    .venv/bin/python perf/cache_warm.py [--repeats 5] [--accesses 200000]

(a) ``WarmStart`` construction (one LRU replay of the trace) and ``contents(start)`` at the
    trace's middle, on the bundled trace and on a synthetic trace of ``--accesses`` accesses;
(b) ``reset()`` of a random warm window of 2 000 accesses through ``gymnasium.make("Cache-v1")``
    and of ``Cache-v0`` (target: a warm reset costs less than stepping through its window);
(c) ``env.step`` of ``Cache-v1`` with a constant action, steps/s.

Prints the figures and writes perf/out/cache_warm.json (best of ``--repeats``, median beside it).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401  (registers the ids)
from iroko_gym.atomic import atomic_write_text
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.pipeline import process_log
from iroko_gym.cache.synthetic import SyntheticConfig, generate_log
from iroko_gym.cache.trace import load_trace
from iroko_gym.cache.warm import WarmStart

OUT = Path(__file__).resolve().parent / "out" / "cache_warm.json"
WINDOW = 2000


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return {"best_s": min(runs), "median_s": statistics.median(runs)}


def warm_figures(trace, size_tb: float, repeats: int) -> dict[str, Any]:
    geometry = CacheGeometry.from_tb(size_tb)
    build = timed(lambda: WarmStart(trace, geometry), repeats)
    warm = WarmStart(trace, geometry)
    middle = len(trace) // 2
    contents = timed(lambda: warm.contents(middle), repeats * 20)
    return {"accesses": len(trace), "size_tb": size_tb, "build": build, "contents_at_middle": contents,
            "files_at_middle": len(warm.contents(middle)[0]), "first_clean": warm.first_clean}


def reset_figures(env_id: str, repeats: int) -> dict[str, Any]:
    env = gym.make(env_id, length=WINDOW, random_window=True)
    seeds = iter(range(10**6))
    reset = timed(lambda: env.reset(seed=next(seeds)), repeats * 20)
    action = np.full(1, 0.5, np.float32) if env_id == "Cache-v1" else 1

    def episode() -> None:
        env.reset(seed=0)
        for _ in range(WINDOW - 1):
            env.step(action)

    run = timed(episode, repeats)
    return {"reset": reset, "episode": run, "steps_per_s": (WINDOW - 1) / run["best_s"],
            "reset_over_episode": reset["best_s"] / run["best_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accesses", type=int, default=200_000)
    args = parser.parse_args()
    big, _ = process_log(generate_log(SyntheticConfig(accesses=args.accesses, datasets=20_000)))
    unique = np.unique(big.fid, return_index=True)[1]
    figures = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "warm_bundled": warm_figures(load_trace(), 10.0, args.repeats),
        "warm_synthetic": warm_figures(big, 0.1 * big.kb[unique].sum() / 1024**3, args.repeats),
        "Cache-v1": reset_figures("Cache-v1", args.repeats),
        "Cache-v0": reset_figures("Cache-v0", args.repeats),
    }
    for name in ("warm_bundled", "warm_synthetic"):
        f = figures[name]
        print(f"{name}: {f['accesses']} accesses, LRU warm-up replay {f['build']['best_s'] * 1e3:.1f} ms "
              f"(median {f['build']['median_s'] * 1e3:.1f}), contents at the middle "
              f"{f['contents_at_middle']['best_s'] * 1e3:.2f} ms ({f['files_at_middle']} files)")
    for env_id in ("Cache-v1", "Cache-v0"):
        f = figures[env_id]
        print(f"{env_id}: warm reset of a random {WINDOW}-access window {f['reset']['best_s'] * 1e3:.2f} ms "
              f"(median {f['reset']['median_s'] * 1e3:.2f}), {f['steps_per_s'] / 1e3:.0f} k steps/s, "
              f"reset = {f['reset_over_episode']:.1%} of the episode (target < 100 %)")
    print(f"json: {atomic_write_text(OUT, json.dumps(figures, indent=1))}")


if __name__ == "__main__":
    main()
