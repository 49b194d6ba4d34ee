"""Comparison plots and the summary table, drawn from a stored result directory only.

``draw_all(out)`` writes, under ``<out>/plots/`` (PNG and PDF of each):

1. ``timeseries``: reward, mean/max queue and utilisation per step (smoothed), a line per agent;
2. ``fct_cdf`` and ``slowdown_by_size``: FCT CDF per agent; mean and p99 slowdown per size bucket;
3. ``util_vs_queue``: mean utilisation vs p99 queue, a point per agent x pattern;
4. ``drops``: drops and overlimits per episode per agent;
5. ``learning_curve``: PPO training return vs env steps, mean over seeds, min-max shaded;

and ``<out>/summary.md``, ``<out>/summary.csv`` (per agent x pattern, mean ± 95 % CI over seeds)
and ``<out>/runs.csv`` (the per-run metrics they aggregate).

Figures are :class:`matplotlib.figure.Figure` objects drawn without pyplot (:func:`subplots`), so
drawing needs no display, picks no GUI backend and leaves the caller's pyplot state alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iroko_gym.atomic import atomic_write
from iroko_gym.bench.stats import markdown_table, mean_ci, run_metrics, summarise
from iroko_gym.bench.storage import ResultStore

PLOTS = ("timeseries", "fct_cdf", "slowdown_by_size", "util_vs_queue", "drops", "learning_curve")
FORMATS = ("png", "pdf")
SIZE_BUCKETS = ((0, 100e3, "<100 kB"), (100e3, 1e6, "100 kB-1 MB"), (1e6, 10e6, "1-10 MB"), (10e6, np.inf, ">=10 MB"))
MARKERS = "osD^v<>pXh*"


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, but a standalone Figure: no backend, no global state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig: Any, directory: Path, name: str) -> list[Path]:
    fig.tight_layout()
    return [save_figure(fig, directory / f"{name}.{ext}") for ext in FORMATS]


def save_figure(fig: Any, path: Path) -> Path:
    """Write ``fig`` atomically in the format named by the suffix of ``path``."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:], dpi=110))


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _colours(agents: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {a: cmap(i % 10) for i, a in enumerate(agents)}


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or values.size < window:
        return values
    return pd.Series(values).rolling(window, min_periods=1, center=True).mean().to_numpy()


def plot_timeseries(steps: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path) -> list[Path]:
    fig, axes = subplots(3, 1, figsize=(8, 8), sharex=True)
    panels = (("reward", "reward"), ("queue", "queue (kB): mean of ports —, max - -"), ("utilisation", "utilisation"))
    if steps.empty:
        for ax in axes:
            _empty(ax, "no completed runs")
        return _save(fig, out, "timeseries")
    window = max(1, int(steps["step"].max()) // 20)
    for agent in agents:
        per_step = steps[steps["agent"] == agent].groupby("step")
        if not len(per_step):
            continue
        x = np.asarray(list(per_step.groups))
        c = colours[agent]
        axes[0].plot(x, _smooth(per_step["reward"].mean().to_numpy(), window), color=c, label=agent)
        axes[1].plot(x, _smooth(per_step["queue_mean_bytes"].mean().to_numpy() / 1e3, window), color=c)
        axes[1].plot(x, _smooth(per_step["queue_max_bytes"].mean().to_numpy() / 1e3, window), color=c, ls="--")
        axes[2].plot(x, _smooth(per_step["utilisation"].mean().to_numpy(), window), color=c)
    for ax, (_, label) in zip(axes, panels):
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=min(len(agents), 4))
    axes[-1].set_xlabel(f"step (mean over runs, smoothed over {window})")
    return _save(fig, out, "timeseries")


def plot_fct(flows: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path) -> list[Path]:
    done = flows[np.isfinite(flows["fct_s"])] if not flows.empty else flows
    fig, ax = subplots(figsize=(7, 4.5))
    if done.empty:
        _empty(ax, "no completed flows")
    for agent in agents:
        fct = np.sort(done[done["agent"] == agent]["fct_s"].to_numpy()) if not done.empty else np.array([])
        if fct.size:
            ax.step(fct, np.arange(1, fct.size + 1) / fct.size, where="post", color=colours[agent], label=f"{agent} ({fct.size})")
    if not done.empty:
        ax.set_xscale("log")
        ax.set_xlabel("flow completion time (s)")
        ax.set_ylabel("CDF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    paths = _save(fig, out, "fct_cdf")

    fig, axes = subplots(1, 2, figsize=(10, 4))
    sized = done[np.isfinite(done["slowdown"])] if not done.empty else done
    if sized.empty:
        for ax in axes:
            _empty(ax, "no completed sized flows")
        return paths + _save(fig, out, "slowdown_by_size")
    width = 0.8 / max(len(agents), 1)
    for i, agent in enumerate(agents):
        mine = sized[sized["agent"] == agent]
        means, p99s = [], []
        for low, high, _ in SIZE_BUCKETS:
            s = mine[(mine["size_bytes"] >= low) & (mine["size_bytes"] < high)]["slowdown"].to_numpy()
            means.append(s.mean() if s.size else np.nan)
            p99s.append(np.percentile(s, 99) if s.size else np.nan)
        x = np.arange(len(SIZE_BUCKETS)) + i * width
        axes[0].bar(x, means, width, color=colours[agent], label=agent)
        axes[1].bar(x, p99s, width, color=colours[agent])
    for ax, title in zip(axes, ("mean slowdown", "p99 slowdown")):
        ax.set_xticks(np.arange(len(SIZE_BUCKETS)) + 0.4 - width / 2, [b[2] for b in SIZE_BUCKETS], fontsize=8)
        ax.set_title(title)
        ax.set_yscale("log")
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    return paths + _save(fig, out, "slowdown_by_size")


def plot_util_vs_queue(per_run: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path) -> list[Path]:
    fig, ax = subplots(figsize=(7, 5))
    if per_run.empty:
        _empty(ax, "no completed runs")
        return _save(fig, out, "util_vs_queue")
    patterns = list(dict.fromkeys(per_run["pattern"]))
    cells = per_run.groupby(["agent", "pattern"])[["queue_p99_kb", "utilisation"]].mean().reset_index()
    for agent, pattern, queue, util in cells[["agent", "pattern", "queue_p99_kb", "utilisation"]].to_numpy():
        ax.scatter(float(queue), float(util), color=colours[str(agent)], s=60,
                   marker=MARKERS[patterns.index(pattern) % len(MARKERS)], edgecolor="k", linewidth=0.5)
    for agent in agents:
        ax.scatter([], [], color=colours[agent], label=agent)
    for i, pattern in enumerate(patterns):
        ax.scatter([], [], color="0.6", marker=MARKERS[i % len(MARKERS)], label=f"pattern {pattern}")
    ax.set_xlabel("p99 bottleneck queue (kB)")
    ax.set_ylabel("mean utilisation (busiest port)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, "util_vs_queue")


def plot_drops(per_run: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path) -> list[Path]:
    fig, axes = subplots(1, 2, figsize=(10, 4))
    for ax, column, title in zip(axes, ("drops", "overlimits"), ("drops / episode", "overlimits / episode")):
        if per_run.empty:
            _empty(ax, "no completed runs")
            continue
        stats = [mean_ci(per_run[per_run["agent"] == a][column].to_numpy()) for a in agents]
        means = [m for m, _ in stats]
        errs = [0.0 if not np.isfinite(e) else e for _, e in stats]
        ax.bar(range(len(agents)), means, yerr=errs, color=[colours[a] for a in agents], capsize=3)
        ax.set_xticks(range(len(agents)), agents, fontsize=8)
        ax.set_title(f"{title} (mean ± 95 % CI over runs)", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, out, "drops")


def plot_learning(learning: pd.DataFrame, out: Path) -> list[Path]:
    fig, ax = subplots(figsize=(7, 4.5))
    if learning.empty:
        _empty(ax, "no PPO training in this result")
        return _save(fig, out, "learning_curve")
    for (topo, transport), group in learning.groupby(["topo", "transport"]):
        grid = np.linspace(group["env_steps"].min(), group["env_steps"].max(), 50)
        curves = np.array([np.interp(grid, g["env_steps"], g["return"]) for _, g in group.groupby("seed")])
        line = ax.plot(grid, curves.mean(axis=0), label=f"PPO {topo}/{transport} ({len(curves)} seeds)")[0]
        ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=0.25)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, "learning_curve")


def _agent_order(store: ResultStore, present: Sequence[str]) -> list[str]:
    try:
        wanted = list(store.read_config().get("agents", []))
    except OSError:
        wanted = []
    return [a for a in wanted if a in present] + sorted(set(present) - set(wanted))


def draw_all(out: str | Path) -> list[Path]:
    """Every plot (PNG + PDF) and the summary table of the result directory ``out``."""
    store = ResultStore(out)
    steps, flows, learning = store.steps(), store.flows(), store.learning()
    per_run = run_metrics(steps, flows)
    summary = summarise(per_run)
    root = store.root
    written = [atomic_write(root / "runs.csv", lambda tmp: per_run.to_csv(tmp, index=False)),
               atomic_write(root / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False)),
               atomic_write(root / "summary.md", lambda tmp: tmp.write_text(markdown_table(summary)))]
    agents = _agent_order(store, list(dict.fromkeys(steps["agent"])) if not steps.empty else [])
    colours = _colours(agents)
    plots = store.plots_dir
    written += plot_timeseries(steps, agents, colours, plots)
    written += plot_fct(flows, agents, colours, plots)
    written += plot_util_vs_queue(per_run, agents, colours, plots)
    written += plot_drops(per_run, agents, colours, plots)
    written += plot_learning(learning, plots)
    return written
