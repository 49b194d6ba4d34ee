"""Shared helpers of the benchmark unit tests: a fake-network grid and a synthetic stored result."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iroko_gym.bench.runner import FLOW_COLUMNS
from iroko_gym.bench.storage import COMPLETED, write_json, write_parquet
from iroko_gym.dc.fake import FakeNetwork

AGENTS = ("tcp", "fair", "aimd")
PATTERNS = ("incast", "hotspot")


@pytest.fixture
def fake_factory():
    return functools.partial(FakeNetwork, traffic_steps=None)


def write_synthetic_result(root: Path, seeds: int = 2, steps: int = 10) -> None:
    """A stored result shaped like a real one: 3 agents x 2 patterns x seeds, plus a PPO curve."""
    rng = np.random.default_rng(0)
    write_json(root / "config.json", {"agents": list(AGENTS)})
    for agent in AGENTS:
        for pattern in PATTERNS:
            for seed in range(seeds):
                spec = {"agent": agent, "topo": "dumbbell", "pattern": pattern, "transport": "tcp", "seed": seed,
                        "cc": "cubic", "held_out": pattern == "hotspot"}
                run_id = f"{agent}__dumbbell__{pattern}__tcp__s{seed}"
                spec["run_id"] = run_id
                d = root / "runs" / run_id
                write_parquet(d / "steps.parquet", pd.DataFrame({
                    "episode": 0, "step": np.arange(1, steps + 1), "interval_s": 0.02, "reward": rng.normal(size=steps),
                    "utilisation": rng.uniform(size=steps), "queue_mean_bytes": rng.uniform(0, 5e4, steps),
                    "queue_max_bytes": rng.uniform(5e4, 1e5, steps), "bottleneck_queue_bytes": rng.uniform(0, 1e5, steps),
                    "drops": rng.integers(0, 5, steps).astype(float), "overlimits": rng.integers(0, 9, steps).astype(float)}))
                sizes = np.array([10_000, 500_000, 2_000_000, 20_000_000, 0])
                fct = sizes * 8 / 50e6 * rng.uniform(1, 5, sizes.size)
                fct[-1] = np.nan
                flows = pd.DataFrame({"episode": 0, "flow_id": [f"h1-{i}" for i in range(5)], "src": "h1", "dst": "h3",
                                      "proto": "tcp", "size_bytes": sizes, "bytes_sent": sizes, "start_s": 0.0,
                                      "start_ns": 1, "end_ns": 2, "status": "done", "fct_s": fct,
                                      "ideal_fct_s": np.where(sizes > 0, sizes * 8 / 50e6, np.nan)})
                flows["slowdown"] = flows["fct_s"] / flows["ideal_fct_s"]
                write_parquet(d / "flows.parquet", flows[list(FLOW_COLUMNS)])
                write_json(d / "run.json", {"spec": spec, "status": COMPLETED})
    for seed in range(seeds):
        model_id = f"ppo__dumbbell__tcp__s{seed}"
        d = root / "training" / model_id
        write_parquet(d / "learning.parquet", pd.DataFrame({"episode": range(5), "env_steps": np.arange(1, 6) * steps,
                                                            "return": rng.normal(size=5).cumsum(), "length": steps,
                                                            "pattern": "incast"}))
        write_json(d / "run.json", {"spec": {"topo": "dumbbell", "transport": "tcp", "seed": seed, "model_id": model_id},
                                    "status": COMPLETED})
