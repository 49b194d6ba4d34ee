"""Per-run metrics and their aggregation over seeds (mean and 95 % confidence half-width).

The summary table has one row per (agent, topology, transport, pattern); a pattern is
``held-out`` when PPO was not trained on it.  Each cell is the mean over seeds of a per-run
metric, ± the half-width of a two-sided Student-t 95 % interval over the seeds.  With fewer
than :data:`MIN_SEEDS_FOR_CI` seeds there is no interval (two seeds give t(1) = 12.7, an
interval wider than any metric's range, which says nothing): the cell is the mean alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Two-sided 95 % Student-t quantiles for 1..30 degrees of freedom (beyond: 1.96).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)

#: Fewest finite values a confidence interval is computed from.
MIN_SEEDS_FOR_CI = 3
#: What the ± of the tables and the error bars of the plots are (said in their headers and captions).
CI_TEXT = f"mean ± 95 % Student-t interval over seeds (mean only with < {MIN_SEEDS_FOR_CI} seeds)"

RUN_KEYS = ["agent", "topo", "transport", "pattern", "held_out", "seed"]
GROUP_KEYS = ["agent", "topo", "transport", "pattern", "held_out"]
#: (column, table header, format) of every summary metric, in table order.
METRICS = (
    ("utilisation", "mean utilisation", "{:.3f}"),
    ("queue_p99_kb", "p99 queue (kB)", "{:.1f}"),
    ("slowdown_mean", "mean FCT slowdown", "{:.2f}"),
    ("slowdown_p99", "p99 FCT slowdown", "{:.2f}"),
    ("drops", "drops / episode", "{:.1f}"),
    ("reward", "reward / step", "{:.3f}"),
)


def t95(dof: int) -> float:
    return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96


def mean_ci(values: npt.ArrayLike) -> tuple[float, float]:
    """Mean and 95 % t half-width of the finite values (half-width NaN below :data:`MIN_SEEDS_FOR_CI`)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    if x.size < MIN_SEEDS_FOR_CI:
        return float(x.mean()), math.nan
    return float(x.mean()), t95(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)


def run_metrics(steps: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """One row per run (``RUN_KEYS``) with every metric of :data:`METRICS`."""
    if steps.empty:
        return pd.DataFrame(columns=RUN_KEYS + [m for m, _, _ in METRICS])
    grouped = steps.groupby(RUN_KEYS)
    per_run = pd.DataFrame({
        "utilisation": grouped["utilisation"].mean(),
        "queue_p99_kb": grouped["bottleneck_queue_bytes"].quantile(0.99) / 1000.0,
        "drops": grouped["drops"].sum() / grouped["episode"].nunique(),
        "overlimits": grouped["overlimits"].sum() / grouped["episode"].nunique(),
        "reward": grouped["reward"].mean(),
    })
    done = flows[np.isfinite(flows["slowdown"])] if not flows.empty else flows
    if not done.empty:
        by_flow = done.groupby(RUN_KEYS)["slowdown"]
        per_run["slowdown_mean"] = by_flow.mean()
        per_run["slowdown_p99"] = by_flow.quantile(0.99)
    else:
        per_run["slowdown_mean"] = math.nan
        per_run["slowdown_p99"] = math.nan
    return per_run.reset_index()


def summarise(per_run: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, ``<metric>_ci`` and ``n`` (seeds) per agent x topology x transport x pattern."""
    names = list(metrics) if metrics is not None else [m for m, _, _ in METRICS]
    rows = []
    for keys, group in per_run.groupby(GROUP_KEYS, sort=False):
        row = dict(zip(GROUP_KEYS, keys))
        row["n"] = len(group)
        for name in names:
            row[name], row[f"{name}_ci"] = mean_ci(group[name].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows, columns=GROUP_KEYS + ["n"] + [c for m in names for c in (m, f"{m}_ci")])


def _cell(mean: float, ci: float, fmt: str) -> str:
    if not math.isfinite(mean):
        return "–"
    return fmt.format(mean) + (f" ± {fmt.format(ci)}" if math.isfinite(ci) else "")


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a GitHub markdown table, its first line saying what the cells are (:data:`CI_TEXT`)."""
    head = ["agent", "topology", "transport", "pattern", "split"] + [h for _, h, _ in METRICS] + ["seeds"]
    lines = [f"Cells: {CI_TEXT}.", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        cells = [str(r["agent"]), str(r["topo"]), str(r["transport"]), str(r["pattern"]),
                 "held-out" if r["held_out"] else "train"]
        cells += [_cell(r[m], r[f"{m}_ci"], fmt) for m, _, fmt in METRICS]
        lines.append("| " + " | ".join(cells + [str(r["n"])]) + " |")
    return "\n".join(lines) + "\n"


#: Issue 12's targets for the learned agent against the reference (TCP) on each pattern.
UTIL_RATIO_MIN = 0.95
QUEUE_RATIO_MAX = 0.25


def target_table(summary: pd.DataFrame, learned: str = "ppo", reference: str = "tcp", rival: str = "aimd") -> pd.DataFrame:
    """Per (topology, transport, pattern): the learned agent's means against the targets.

    ``util_ratio`` = its utilisation / the reference's (target ≥ :data:`UTIL_RATIO_MIN`),
    ``queue_ratio`` = its p99 queue / the reference's (target ≤ :data:`QUEUE_RATIO_MAX`),
    ``slowdown_ratio`` = its p99 FCT slowdown / the reference's (target ≤ 1), and
    ``dominated``: the rival is better on utilisation *and* on queue (target: not dominated).
    Compares means over seeds; empty when the summary lacks the learned agent or the reference.
    """
    keys = ["topo", "transport", "pattern", "held_out"]
    cols = ["utilisation", "queue_p99_kb", "slowdown_p99"]
    by = {a: summary[summary["agent"] == a].set_index(keys)[cols] for a in (learned, reference, rival)}
    rows = []
    for key in by[learned].index.intersection(by[reference].index):
        mine, ref = by[learned].loc[key], by[reference].loc[key]
        row = dict(zip(keys, key))
        row["util_ratio"] = mine["utilisation"] / ref["utilisation"]
        row["queue_ratio"] = mine["queue_p99_kb"] / ref["queue_p99_kb"]
        row["slowdown_ratio"] = mine["slowdown_p99"] / ref["slowdown_p99"]
        if key in by[rival].index:
            other = by[rival].loc[key]
            row["dominated"] = bool(other["utilisation"] > mine["utilisation"] and other["queue_p99_kb"] < mine["queue_p99_kb"])
        else:
            row["dominated"] = False
        row["met"] = bool(row["util_ratio"] >= UTIL_RATIO_MIN and row["queue_ratio"] <= QUEUE_RATIO_MAX
                          and row["slowdown_ratio"] <= 1.0 and not row["dominated"])
        rows.append(row)
    return pd.DataFrame(rows, columns=keys + ["util_ratio", "queue_ratio", "slowdown_ratio", "dominated", "met"])


def targets_markdown(targets: pd.DataFrame, learned: str = "ppo", reference: str = "tcp", rival: str = "aimd") -> str:
    """:func:`target_table` as markdown, each figure beside its target."""
    head = ["topology", "pattern", "split", f"util / {reference} (≥ {UTIL_RATIO_MIN})",
            f"p99 queue / {reference} (≤ {QUEUE_RATIO_MAX})", f"p99 slowdown / {reference} (≤ 1)",
            f"dominated by {rival} (no)", "all met"]
    lines = [f"Targets of {learned} against {reference}, on means over seeds.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in targets.iterrows():
        lines.append("| " + " | ".join([str(r["topo"]), str(r["pattern"]), "held-out" if r["held_out"] else "train",
                                        f"{r['util_ratio']:.3f}", f"{r['queue_ratio']:.3f}", f"{r['slowdown_ratio']:.2f}",
                                        "yes" if r["dominated"] else "no", "yes" if r["met"] else "no"]) + " |")
    return "\n".join(lines) + "\n"
