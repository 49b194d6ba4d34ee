"""Summary statistics: per-run metrics and mean ± 95 % CI over seeds, on hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from iroko_gym.bench.stats import markdown_table, mean_ci, run_metrics, summarise


def test_mean_ci_on_hand_values():
    mean, half = mean_ci([1.0, 2.0, 3.0])  # s = 1, t(2) = 4.303
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    mean, half = mean_ci([10.0, 14.0])  # s = 2.828, t(1) = 12.706
    assert mean == 12.0 and half == pytest.approx(12.706 * math.sqrt(8) / math.sqrt(2))
    assert mean_ci([5.0])[0] == 5.0 and math.isnan(mean_ci([5.0])[1])
    assert math.isnan(mean_ci([np.nan])[0])
    assert mean_ci([1.0, np.nan, 3.0])[0] == 2.0


def _steps(agent: str, seed: int, util: list[float], queue: list[float], drops: list[float]) -> pd.DataFrame:
    n = len(util)
    return pd.DataFrame({"agent": agent, "topo": "dumbbell", "transport": "tcp", "pattern": "incast", "held_out": False,
                         "seed": seed, "episode": 0, "step": range(1, n + 1), "utilisation": util,
                         "bottleneck_queue_bytes": queue, "drops": drops, "overlimits": 0.0, "reward": 0.5})


def test_run_metrics_and_summary():
    steps = pd.concat([_steps("aimd", 0, [0.2, 0.4], [1000.0, 1000.0], [1, 2]),
                       _steps("aimd", 1, [0.6, 0.8], [3000.0, 3000.0], [0, 0])])
    flows = pd.DataFrame({"agent": "aimd", "topo": "dumbbell", "transport": "tcp", "pattern": "incast",
                          "held_out": False, "seed": [0, 0, 1], "slowdown": [1.0, 3.0, np.nan]})
    per_run = run_metrics(steps, flows)
    assert per_run["utilisation"].tolist() == pytest.approx([0.3, 0.7])
    assert per_run["queue_p99_kb"].tolist() == pytest.approx([1.0, 3.0])
    assert per_run["drops"].tolist() == [3.0, 0.0]
    assert per_run["slowdown_mean"].iloc[0] == 2.0 and math.isnan(per_run["slowdown_mean"].iloc[1])
    summary = summarise(per_run)
    (row,) = summary.to_dict("records")
    assert row["n"] == 2 and row["utilisation"] == pytest.approx(0.5)
    assert row["utilisation_ci"] == pytest.approx(12.706 * np.std([0.3, 0.7], ddof=1) / math.sqrt(2))
    assert row["slowdown_mean"] == 2.0 and math.isnan(row["slowdown_mean_ci"])
    table = markdown_table(summary)
    assert table.count("\n") == 3 and "| aimd | dumbbell | tcp | incast | train | 0.500 ± 2.541 |" in table
