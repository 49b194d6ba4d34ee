"""Summary statistics: per-run metrics and mean ± 95 % CI over seeds, on hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from iroko_gym.bench.stats import CI_TEXT, MIN_SEEDS_FOR_CI, markdown_table, mean_ci, run_metrics, summarise
from iroko_gym.bench.stats import target_table, targets_markdown


def test_mean_ci_on_hand_values():
    mean, half = mean_ci([1.0, 2.0, 3.0])  # s = 1, t(2) = 4.303
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3))
    mean, half = mean_ci([10.0, 14.0, 12.0, 12.0, 12.0])  # s = sqrt(2), t(4) = 2.776
    assert mean == 12.0 and half == pytest.approx(2.776 * math.sqrt(2) / math.sqrt(5))
    assert mean_ci([5.0])[0] == 5.0 and math.isnan(mean_ci([5.0])[1])
    assert math.isnan(mean_ci([np.nan])[0])
    assert mean_ci([1.0, np.nan, 3.0])[0] == 2.0 and math.isnan(mean_ci([1.0, np.nan, 3.0])[1])  # two finite


def test_two_seeds_give_a_mean_and_no_interval():
    """t(1) = 12.7 makes a two-seed interval meaningless (the issue's 0.746 ± 2.828): no ± at all."""
    mean, half = mean_ci([10.0, 14.0])
    assert mean == 12.0 and math.isnan(half)
    assert MIN_SEEDS_FOR_CI == 3 and "Student-t" in CI_TEXT


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
    assert math.isnan(row["utilisation_ci"])  # two seeds: no interval
    assert row["slowdown_mean"] == 2.0 and math.isnan(row["slowdown_mean_ci"])
    table = markdown_table(summary)
    assert table.startswith(f"Cells: {CI_TEXT}.")
    assert table.count("\n") == 5 and "| aimd | dumbbell | tcp | incast | train | 0.500 | 2.0 |" in table
    assert "±" not in table.split("\n", 1)[1]


def test_three_seeds_print_the_t_interval():
    steps = pd.concat([_steps("aimd", s, [u, u], [1000.0, 1000.0], [0, 0]) for s, u in enumerate((0.4, 0.5, 0.6))])
    flows = pd.DataFrame(columns=["agent", "topo", "transport", "pattern", "held_out", "seed", "slowdown"])
    (row,) = summarise(run_metrics(steps, flows)).to_dict("records")
    assert row["utilisation_ci"] == pytest.approx(4.303 * 0.1 / math.sqrt(3))
    assert "| 0.500 ± 0.248 |" in markdown_table(summarise(run_metrics(steps, flows)))


def _summary_row(agent: str, util: float, queue: float, slow: float, pattern: str = "hotspot") -> dict:
    return {"agent": agent, "topo": "dumbbell", "transport": "tcp", "pattern": pattern, "held_out": True, "n": 3,
            "utilisation": util, "queue_p99_kb": queue, "slowdown_p99": slow}


def test_targets_against_tcp_and_aimd_on_hand_values():
    summary = pd.DataFrame([_summary_row("tcp", 0.9, 600.0, 4.0), _summary_row("aimd", 0.86, 110.0, 3.0),
                            _summary_row("ppo", 0.88, 120.0, 3.5),
                            _summary_row("tcp", 1.0, 600.0, 4.0, "bijection"), _summary_row("aimd", 0.9, 100.0, 3.0, "bijection"),
                            _summary_row("ppo", 0.8, 200.0, 5.0, "bijection")])
    t = target_table(summary).set_index("pattern")
    assert t.loc["hotspot", "util_ratio"] == pytest.approx(0.88 / 0.9) and t.loc["hotspot", "queue_ratio"] == pytest.approx(0.2)
    assert not t.loc["hotspot", "dominated"] and t.loc["hotspot", "met"]  # aimd has less queue but less utilisation
    assert t.loc["bijection", "dominated"] and not t.loc["bijection", "met"]
    assert t.loc["bijection", "slowdown_ratio"] == pytest.approx(1.25)
    text = targets_markdown(target_table(summary))
    assert "| dumbbell | hotspot | held-out | 0.978 | 0.200 | 0.88 | no | yes |" in text
    assert target_table(summary[summary["agent"] != "tcp"]).empty
