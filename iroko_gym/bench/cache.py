"""Cache benchmark: agents vs LRU/LFU/FIFO/Belady/GDSF over traces and cache sizes.

Reuses ``iroko_gym.cache.baselines`` (policies replayed on the env core; agents run through
``gymnasium.make``), so every figure is comparable with ``python -m iroko_gym.cache.baselines``.
Stored under ``<out>/cache/``: one JSON per (trace, size, policy or agent) cell in ``runs/``
(resumable), ``summary.{md,csv}`` and ``plots/hit_rates.{png,pdf}`` (file and byte hit rate
against cache size, a line per policy/agent, a row of panels per trace).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from iroko_gym.atomic import atomic_write
from iroko_gym.bench.storage import ResultStore, read_json, versions, write_json
from iroko_gym.errors import ConfigError

DEFAULT_TRACE = "default"


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class CacheBenchConfig:
    """One cache grid: traces x cache sizes x (policies + agents)."""

    out: str = _f("results/cache", "result directory (results go to <out>/cache)")
    traces: tuple[str, ...] = _f((DEFAULT_TRACE,), "processed traces (.parquet); 'default' = the bundled one")
    sizes_tb: tuple[float, ...] = _f((1.0, 5.0, 10.0), "cache sizes in TB")
    policies: tuple[str, ...] = _f(("lru", "lfu", "fifo", "belady", "gdsf"), "classic policies")
    agents: tuple[str, ...] = _f(("always-keep", "never-keep"), "agents: built-in names, module:callable or file.py:callable")
    env_id: str = _f("Cache-v0", "env the agents run in")
    resume: bool = _f(False, "skip cells already stored")

    def __post_init__(self) -> None:
        if not self.traces or not self.sizes_tb or not (self.policies or self.agents):
            raise ConfigError("cache benchmark: give at least one trace, one size and one policy or agent")
        if any(s <= 0 for s in self.sizes_tb):
            raise ConfigError(f"--sizes-tb {list(self.sizes_tb)}: sizes must be > 0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(CacheBenchConfig):
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"], "default": f.default}
        if f.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif str(f.type).startswith("tuple"):
            cast = float if "float" in str(f.type) else str
            kwargs["type"] = lambda text, cast=cast: tuple(cast(s.strip()) for s in text.split(",") if s.strip())
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def config_from_args(ns: argparse.Namespace) -> CacheBenchConfig:
    return CacheBenchConfig(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(CacheBenchConfig)})


def _cell_id(trace: str, size_tb: float, who: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{Path(trace).stem}__{size_tb:g}TB__{who}")


def run_cache_grid(config: CacheBenchConfig) -> pd.DataFrame:
    """Replay/evaluate every cell (skipping stored ones with ``resume``); returns the table."""
    from iroko_gym.cache.baselines import evaluate_agent, load_agent
    from iroko_gym.cache.core import CacheGeometry
    from iroko_gym.cache.policies import replay
    from iroko_gym.cache.trace import load_trace

    root = ResultStore(config.out).root / "cache"
    write_json(root / "config.json", dataclasses.asdict(config))
    for trace_name in config.traces:
        trace = load_trace(None if trace_name == DEFAULT_TRACE else trace_name)
        for size in config.sizes_tb:
            for kind, who in [("policy", p) for p in config.policies] + [("agent", a) for a in config.agents]:
                path = root / "runs" / f"{_cell_id(trace_name, size, who)}.json"
                if config.resume and path.exists():
                    continue
                began = time.perf_counter()
                if kind == "policy":
                    result = replay(who, trace, CacheGeometry.from_tb(size))
                else:
                    result = evaluate_agent(load_agent(who), trace, size, config.env_id, who)
                write_json(path, {"trace": trace_name, "size_tb": size, "kind": kind, "name": who,
                                  "accesses": len(trace), "file_hit_rate": result.file_hit_rate,
                                  "byte_hit_rate": result.byte_hit_rate, "seconds": time.perf_counter() - began,
                                  "versions": versions()})
    return load_cache_results(config.out)


def load_cache_results(out: str | Path) -> pd.DataFrame:
    rows = [read_json(p) for p in sorted((Path(out) / "cache" / "runs").glob("*.json"))]
    return pd.DataFrame(rows, columns=["trace", "size_tb", "kind", "name", "accesses", "file_hit_rate", "byte_hit_rate",
                                       "seconds"])


def draw_cache(out: str | Path) -> list[Path]:
    """``summary.{md,csv}`` and ``plots/hit_rates.{png,pdf}`` of ``<out>/cache``."""
    import matplotlib.pyplot as plt

    from iroko_gym.bench.plots import FORMATS, save_figure

    root = Path(out) / "cache"
    table = load_cache_results(out).sort_values(["trace", "size_tb", "kind", "name"])
    lines = ["| trace | cache (TB) | policy/agent | kind | hit rate | byte hit rate |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.trace} | {r.size_tb:g} | {r.name} | {r.kind} | {r.file_hit_rate:.4f} | {r.byte_hit_rate:.4f} |"
              for r in table.itertuples()]
    written = [atomic_write(root / "summary.csv", lambda tmp: table.to_csv(tmp, index=False)),
               atomic_write(root / "summary.md", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))]
    traces = list(dict.fromkeys(table["trace"])) or ["(none)"]
    fig, axes = plt.subplots(len(traces), 2, figsize=(10, 3.8 * len(traces)), squeeze=False)
    for row, trace in zip(axes, traces):
        mine = table[table["trace"] == trace]
        for name, group in mine.groupby("name", sort=False):
            style = "-o" if group["kind"].iloc[0] == "policy" else "--s"
            for ax, col in zip(row, ("file_hit_rate", "byte_hit_rate")):
                ax.plot(group["size_tb"], group[col], style, label=name)
        for ax, title in zip(row, ("hit rate", "byte hit rate")):
            ax.set_title(f"{trace}: {title}", fontsize=9)
            ax.set_xlabel("cache size (TB)")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    fig.tight_layout()
    try:
        written += [save_figure(fig, root / "plots" / f"hit_rates.{ext}") for ext in FORMATS]
    finally:
        plt.close(fig)
    return written
