"""Comparison plots and the summary table, drawn from a stored result directory only.

``draw_all(out)`` writes, under ``<out>/plots/`` (PNG and PDF of each):

1. ``timeseries``: reward, bottleneck queue and utilisation over time (s), a line per agent;
2. ``fct_cdf`` and ``slowdown_by_size``: FCT CDF per agent; mean and p99 slowdown per size bucket;
3. ``util_vs_queue``: Pantheon-style utilisation vs p99 queue, a small point per seed and the
   mean with its interval per agent;
4. ``drops``: drops and overlimits per episode per agent;
5. ``learning_curve``: PPO training return vs env steps, mean over seeds with its interval;

and ``<out>/summary.md``, ``<out>/summary.csv`` (per agent x pattern, :data:`~iroko_gym.bench.stats.CI_TEXT`)
and ``<out>/runs.csv`` (the per-run metrics they aggregate); with ``ppo`` and ``tcp`` in the
result also ``<out>/targets.md`` (issue 12's targets, :func:`~iroko_gym.bench.stats.target_table`).

Every aggregate is over seeds (a run is one seed), with the 95 % Student-t interval of
:func:`~iroko_gym.bench.stats.mean_ci` as band or error bar (none below three seeds).  Plots of
evaluation runs have one panel per pattern: patterns are never averaged together.  Each figure
carries a caption line with the grid's config.

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
from iroko_gym.bench.stats import (
    CI_TEXT,
    RUN_KEYS,
    markdown_table,
    mean_ci,
    run_metrics,
    summarise,
    target_table,
    targets_markdown,
)
from iroko_gym.bench.storage import ResultStore

PLOTS = ("timeseries", "fct_cdf", "slowdown_by_size", "util_vs_queue", "drops", "learning_curve")
FORMATS = ("png", "pdf")
SIZE_BUCKETS = ((0, 100e3, "<100 kB"), (100e3, 1e6, "100 kB-1 MB"), (1e6, 10e6, "1-10 MB"), (10e6, np.inf, ">=10 MB"))


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, but a standalone Figure: no backend, no global state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig: Any, directory: Path, name: str, caption: str = "") -> list[Path]:
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=7, color="0.3", ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    else:
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


def caption(config: dict[str, Any]) -> str:
    """One line saying what grid a figure shows (empty for a result without a stored config)."""
    if not config.get("topo"):
        return ""
    parts = [",".join(config["topo"]), f"{config.get('capacity_mbps', '?')} Mbit/s",
             f"{config.get('steps', '?')} steps x {config.get('step_interval_ms', '?')} ms x {config.get('episodes', '?')} ep",
             f"{config.get('workload', '?')} load {config.get('offered_load', '?')}", f"cc {config.get('cc', '?')}",
             f"{config.get('seeds', '?')} seeds", f"reward {config.get('reward', '?')}"]
    if "ppo" in config.get("agents", ()):
        # a result stored before a field existed ran with that field's old and only value
        control, reward = config.get("ppo_control", "central"), config.get("ppo_reward", "env")
        parts.append(f"PPO {control} control, {reward} reward, {config.get('ppo_steps', '?')} steps on "
                     f"{','.join(config.get('train_patterns', ()))}")
    return " | ".join(parts) + f". Bars/bands: {CI_TEXT}."


def _patterns(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["pattern"])) if not frame.empty else []


def _panels(n: int, nrows: int = 1, *, width: float = 4.2, height: float = 3.4, **kwargs: Any) -> tuple[Any, np.ndarray]:
    fig, axes = subplots(nrows, max(n, 1), figsize=(width * max(n, 1), height * nrows), squeeze=False, **kwargs)
    return fig, axes


def _title(pattern: str, held_out: Any) -> str:
    return f"{pattern} ({'held-out' if bool(held_out) else 'train'})"


def _seed_curves(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time s, mean, half-width) of ``column`` per step over the runs (seeds) of ``frame``."""
    table = frame.pivot_table(index="time_s", columns=["seed", "episode"], values=column, aggfunc="mean")
    values = table.to_numpy()
    stats = np.array([mean_ci(row) for row in values]) if values.size else np.empty((0, 2))
    return table.index.to_numpy(), stats[:, 0], stats[:, 1]


def _band(ax: Any, x: np.ndarray, mean: np.ndarray, half: np.ndarray, colour: Any, window: int, **kwargs: Any) -> None:
    mean, half = _smooth(mean, window), _smooth(half, window)
    ax.plot(x, mean, color=colour, **kwargs)
    if np.isfinite(half).any():
        ax.fill_between(x, mean - half, mean + half, color=colour, alpha=0.2, lw=0)


def plot_timeseries(steps: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path, cap: str = "") -> list[Path]:
    patterns = _patterns(steps)
    rows = (("reward", "reward / step", 1.0), ("bottleneck_queue_bytes", "bottleneck queue (kB)", 1e-3),
            ("utilisation", "utilisation (fraction of link)", 1.0))
    fig, axes = _panels(len(patterns), 3, height=2.6, sharex="col")
    if steps.empty:
        for ax in axes[:, 0]:
            _empty(ax, "no completed runs")
        return _save(fig, out, "timeseries", cap)
    steps = steps.assign(time_s=steps["step"] * steps["interval_s"])
    window = max(1, int(steps["step"].max()) // 20)
    for col, pattern in enumerate(patterns):
        mine = steps[steps["pattern"] == pattern]
        for agent in agents:
            runs = mine[mine["agent"] == agent]
            if runs.empty:
                continue
            for row, (column, _, scale) in enumerate(rows):
                x, mean, half = _seed_curves(runs, column)
                _band(axes[row, col], x, mean * scale, half * scale, colours[agent], window, label=agent)
        axes[0, col].set_title(_title(pattern, mine["held_out"].iloc[0]), fontsize=10)
        axes[-1, col].set_xlabel(f"time (s); mean over seeds, smoothed over {window} steps")
        for row, (_, label, _) in enumerate(rows):
            axes[row, col].set_ylabel(label, fontsize=9)
            axes[row, col].grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=min(len(agents), 4))
    return _save(fig, out, "timeseries", cap)


def plot_fct(flows: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path, cap: str = "") -> list[Path]:
    done = flows[np.isfinite(flows["fct_s"])] if not flows.empty else flows
    patterns = _patterns(done)
    fig, axes = _panels(len(patterns))
    if done.empty:
        _empty(axes[0, 0], "no completed flows")
    for col, pattern in enumerate(patterns):
        ax, mine = axes[0, col], done[done["pattern"] == pattern]
        for agent in agents:
            fct = np.sort(mine[mine["agent"] == agent]["fct_s"].to_numpy())
            if fct.size:
                ax.step(fct, np.arange(1, fct.size + 1) / fct.size, where="post", color=colours[agent],
                        label=f"{agent} ({fct.size} flows)")
        ax.set_xscale("log")
        ax.set_xlabel("flow completion time (s)")
        ax.set_ylabel("CDF (fraction of flows, all seeds)")
        ax.set_title(_title(pattern, mine["held_out"].iloc[0]), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, out, "fct_cdf", cap) + plot_slowdown_by_size(done, agents, colours, out, cap)


def bucket_slowdowns(sized: pd.DataFrame) -> pd.DataFrame:
    """Per run and size bucket: mean and p99 slowdown of its flows (buckets without flows absent)."""
    rows = []
    for low, high, name in SIZE_BUCKETS:
        bucket = sized[(sized["size_bytes"] >= low) & (sized["size_bytes"] < high)]
        for keys, group in bucket.groupby(RUN_KEYS):
            s = group["slowdown"].to_numpy()
            rows.append({**dict(zip(RUN_KEYS, keys)), "bucket": name, "mean": s.mean(), "p99": np.percentile(s, 99)})
    return pd.DataFrame(rows, columns=RUN_KEYS + ["bucket", "mean", "p99"])


def plot_slowdown_by_size(done: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path, cap: str = "") -> list[Path]:
    sized = done[np.isfinite(done["slowdown"])] if not done.empty else done
    patterns = _patterns(sized)
    fig, axes = _panels(len(patterns), 2, width=4.6)
    if sized.empty:
        for ax in axes[:, 0]:
            _empty(ax, "no completed sized flows")
        return _save(fig, out, "slowdown_by_size", cap)
    per_bucket = bucket_slowdowns(sized)
    width = 0.8 / max(len(agents), 1)
    for col, pattern in enumerate(patterns):
        mine = per_bucket[per_bucket["pattern"] == pattern]
        buckets = [b[2] for b in SIZE_BUCKETS if (mine["bucket"] == b[2]).any()]  # empty buckets are not drawn
        for row, stat in enumerate(("mean", "p99")):
            ax = axes[row, col]
            for i, agent in enumerate(agents):
                cells = [mean_ci(mine[(mine["agent"] == agent) & (mine["bucket"] == b)][stat]) for b in buckets]
                x = [j + i * width for j, (m, _) in enumerate(cells) if np.isfinite(m)]
                if x:
                    ax.bar(x, [m for m, _ in cells if np.isfinite(m)], width, color=colours[agent], label=agent,
                           yerr=[0.0 if not np.isfinite(e) else e for m, e in cells if np.isfinite(m)], capsize=2)
            ax.set_xticks(np.arange(len(buckets)) + 0.4 - width / 2, buckets, fontsize=8)
            ax.set_xlabel("flow size")
            ax.set_ylabel(f"{stat} FCT slowdown (FCT / ideal FCT)", fontsize=9)
            ax.set_yscale("log")
            ax.axhline(1.0, color="0.5", lw=0.8)
            ax.grid(alpha=0.3, axis="y")
        axes[0, col].set_title(_title(pattern, mine["held_out"].iloc[0]) if not mine.empty else pattern, fontsize=10)
    axes[0, 0].legend(fontsize=8)
    return _save(fig, out, "slowdown_by_size", cap)


def plot_util_vs_queue(per_run: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path, cap: str = "") -> list[Path]:
    """Pantheon-style: p99 queue on a reversed x axis, so better (more utilisation, less queue) is up and right."""
    patterns = _patterns(per_run)
    fig, axes = _panels(len(patterns), width=4.6, height=4.0)
    if per_run.empty:
        _empty(axes[0, 0], "no completed runs")
        return _save(fig, out, "util_vs_queue", cap)
    for col, pattern in enumerate(patterns):
        ax, mine = axes[0, col], per_run[per_run["pattern"] == pattern]
        for agent in agents:
            runs = mine[mine["agent"] == agent]
            if runs.empty:
                continue
            q, u = runs["queue_p99_kb"].to_numpy(float), runs["utilisation"].to_numpy(float)
            ax.scatter(q, u, color=colours[agent], s=14, alpha=0.5, lw=0)
            (qm, qe), (um, ue) = mean_ci(q), mean_ci(u)
            ax.errorbar([qm], [um], xerr=[[0.0 if not np.isfinite(qe) else qe]], yerr=[[0.0 if not np.isfinite(ue) else ue]],
                        color=colours[agent], marker="o", ms=8, mec="k", mew=0.6, capsize=3, label=agent)
        ax.invert_xaxis()
        ax.set_xlabel("p99 bottleneck queue (kB), better ->")
        ax.set_ylabel("mean utilisation of the busiest port")
        ax.set_title(_title(pattern, mine["held_out"].iloc[0]) + ": seeds (dots), mean (ring)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    return _save(fig, out, "util_vs_queue", cap)


def plot_drops(per_run: pd.DataFrame, agents: Sequence[str], colours: dict[str, Any], out: Path, cap: str = "") -> list[Path]:
    patterns = _patterns(per_run)
    fig, axes = _panels(len(patterns), 2, height=3.0)
    if per_run.empty:
        for ax in axes[:, 0]:
            _empty(ax, "no completed runs")
        return _save(fig, out, "drops", cap)
    for col, pattern in enumerate(patterns):
        mine = per_run[per_run["pattern"] == pattern]
        for row, (column, label) in enumerate((("drops", "drops / episode (packets)"), ("overlimits", "overlimits / episode (packets)"))):
            ax = axes[row, col]
            stats = [mean_ci(mine[mine["agent"] == a][column].to_numpy()) for a in agents]
            ax.bar(range(len(agents)), [m for m, _ in stats], yerr=[0.0 if not np.isfinite(e) else e for _, e in stats],
                   color=[colours[a] for a in agents], capsize=3)
            ax.set_xticks(range(len(agents)), agents, fontsize=8)
            ax.set_xlabel("agent")
            ax.set_ylabel(label, fontsize=9)
            ax.grid(alpha=0.3, axis="y")
        axes[0, col].set_title(_title(pattern, mine["held_out"].iloc[0]), fontsize=10)
    return _save(fig, out, "drops", cap)


def plot_learning(learning: pd.DataFrame, out: Path, cap: str = "") -> list[Path]:
    fig, ax = subplots(figsize=(7, 4.5))
    if learning.empty:
        _empty(ax, "no PPO training in this result")
        return _save(fig, out, "learning_curve", cap)
    groups = list(learning.groupby(["topo", "transport"]))
    colours = _colours([f"{topo}/{transport}" for (topo, transport), _ in groups])
    for (topo, transport), group in groups:
        colour = colours[f"{topo}/{transport}"]
        grid = np.linspace(group["env_steps"].min(), group["env_steps"].max(), 50)
        curves = np.array([np.interp(grid, g["env_steps"], g["return"]) for _, g in group.groupby("seed")])
        stats = np.array([mean_ci(column) for column in curves.T])
        _band(ax, grid, stats[:, 0], stats[:, 1], colour, 1, lw=2, label=f"PPO {topo}/{transport} ({len(curves)} seeds)")
        for curve in curves:
            ax.plot(grid, curve, color=colour, lw=0.6, alpha=0.4)
    ax.set_xlabel("training env steps")
    ax.set_ylabel("episode return (sum of rewards)")
    ax.set_title("mean over seeds (thick), each seed (thin)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, "learning_curve", cap)


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
    targets = target_table(summary) if not summary.empty else pd.DataFrame()
    if not targets.empty:
        written.append(atomic_write(root / "targets.md", lambda tmp: tmp.write_text(targets_markdown(targets))))
    agents = _agent_order(store, list(dict.fromkeys(steps["agent"])) if not steps.empty else [])
    colours = _colours(agents)
    plots = store.plots_dir
    try:
        cap = caption(store.read_config())
    except OSError:
        cap = ""
    written += plot_timeseries(steps, agents, colours, plots, cap)
    written += plot_fct(flows, agents, colours, plots, cap)
    written += plot_util_vs_queue(per_run, agents, colours, plots, cap)
    written += plot_drops(per_run, agents, colours, plots, cap)
    written += plot_learning(learning, plots, cap)
    return written
