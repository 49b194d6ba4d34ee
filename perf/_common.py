"""What every performance script shares: percentiles, the timed step loop, machine facts, the JSON result."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from iroko_gym.bench.storage import host_facts, versions, write_json

OUT_DIR = Path(__file__).resolve().parent / "out"

_STATS = {"mean": np.mean, "max": np.max, "min": np.min}


def percentiles(values: Iterable[float], *stats: str) -> dict[str, float]:
    """``{"p50": ..., "p99": ..., "max": ...}`` for ``stats`` such as ``"p50", "p99", "max"``."""
    x = np.asarray(list(values), dtype=float)
    out = {}
    for name in stats:
        if name in _STATS:
            out[name] = float(_STATS[name](x))
        elif name.startswith("p"):
            out[name] = float(np.percentile(x, float(name[1:])))
        else:
            raise ValueError(f"unknown statistic {name!r}: use pNN, mean, min or max")
    return out


def step_overhead(env: Any, steps: int) -> dict[str, Any]:
    """Step ``env`` ``steps`` times with random rates (every rate changes), then close it.

    Overhead = wall time of ``step()`` beyond the step interval; apply latency = the env's own
    ``info["apply_latency_s"]``.  Both in ms, as p50/p99/max.
    """
    interval = env.unwrapped.config.step_interval_ms / 1000.0
    rng = np.random.default_rng(0)
    overhead, apply = [], []
    try:
        env.reset(seed=0)
        for _ in range(steps):
            action = rng.uniform(0.05, 1.0, size=env.action_space.shape).astype(np.float32)
            t0 = time.perf_counter()
            *_, info = env.step(action)
            overhead.append((time.perf_counter() - t0 - interval) * 1e3)
            apply.append(info["apply_latency_s"] * 1e3)
    finally:
        env.close()
    return {"steps": steps, "step_interval_ms": interval * 1e3,
            "step_overhead_ms": percentiles(overhead, "p50", "p99", "max"),
            "apply_latency_ms": percentiles(apply, "p50", "p99", "max")}


def write_result(name: str, result: dict[str, Any], out: str | Path | None = None) -> Path:
    """Write ``result`` atomically to ``out`` (default ``perf/out/<name>.json``), with when, where and what versions."""
    path = Path(out) if out is not None else OUT_DIR / f"{name}.json"
    return write_json(path, {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": host_facts(),
                             "versions": versions(), **result})
