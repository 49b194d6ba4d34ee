"""Cache benchmark: a learned agent vs LRU/LFU/FIFO/GDSF/Belady and ARC/S3-FIFO/SIEVE/LHD over traces and sizes.

    benchmark.py cache [--quick] [--traces default,synth:1] [--sizes-tb 1,5,10] [--learn-steps 30000]

The learned agent (:mod:`iroko_gym.cache.learned`: the remote service's DQN learner used
in-process) trains on the first ``--train-fraction`` of the first trace, at the largest size, and
is then scored with every policy on the *held-out* rest of that trace and on all of the other
traces.  Every policy and agent runs over the whole trace from an empty cache (policies replayed
on the env core, libCacheSim's at the high watermark's capacity, agents through
``gymnasium.make``); only the accesses of the scored part are counted.  Traces: ``default`` and
``large`` (bundled), ``synth:SEED`` (the default generator with another seed, made offline in
memory) or a path.  Stored under ``<out>/cache/``: ``config.json``, one JSON per (trace, size,
policy or agent) cell in ``runs/`` (``--resume`` skips stored cells and refuses a changed config),
``learned/`` (model tensors, training figures), ``summary.{md,csv}`` and
``plots/hit_rates.{png,pdf}`` (file and byte hit rate against cache size, a row per trace).
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
LEARNED = "learned"
QUICK = {"learn_steps": 1_000, "sizes_tb": (10.0,)}
COLUMNS = ["trace", "part", "size_tb", "kind", "name", "accesses", "file_hit_rate", "byte_hit_rate", "seconds"]


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class CacheBenchConfig:
    """One cache grid: traces x cache sizes x (policies + agents)."""

    out: str = _f("results/cache", "result directory (results go to <out>/cache)")
    traces: tuple[str, ...] = _f((DEFAULT_TRACE, "synth:1"),
                                 "traces: default, large, synth:SEED or a .parquet; the first is split for training")
    sizes_tb: tuple[float, ...] = _f((1.0, 5.0, 10.0), "cache sizes in TB")
    policies: tuple[str, ...] = _f(("lru", "lfu", "fifo", "gdsf", "belady", "arc", "s3fifo", "sieve", "lhd", "lru-lcs"),
                                   "classic policies (ours) and libCacheSim's (arc, s3fifo, sieve, lhd, lru-lcs)")
    agents: tuple[str, ...] = _f((LEARNED, "always-keep"),
                                 "agents: 'learned', built-in names, module:callable or file.py:callable")
    env_id: str = _f("Cache-v0", "env the agents other than 'learned' run in ('learned' runs in Cache-v1)")
    train_fraction: float = _f(0.5, "share of the first trace the learned agent trains on; the rest is held out")
    learn_steps: int = _f(30_000, "env steps of experience for the learned agent")
    seed: int = _f(0, "seed of the learned agent")
    quick: bool = _f(False, f"tiny budget for a smoke test: {QUICK}")
    resume: bool = _f(False, "skip cells already stored (the rest of the config must not have changed)")

    def __post_init__(self) -> None:
        if not self.traces or not self.sizes_tb or not (self.policies or self.agents):
            raise ConfigError("cache benchmark: give at least one trace, one size and one policy or agent")
        if any(not s > 0 for s in self.sizes_tb):
            raise ConfigError(f"--sizes-tb {list(self.sizes_tb)}: sizes must be > 0")
        if not 0.0 < self.train_fraction < 1.0:
            raise ConfigError(f"--train-fraction {self.train_fraction!r}: must be in (0, 1)")
        if self.quick:
            for name, value in QUICK.items():
                object.__setattr__(self, name, value if name != "learn_steps" else min(value, self.learn_steps))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(CacheBenchConfig):
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"], "default": f.default}
        if f.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif str(f.type).startswith("tuple"):
            cast = float if "float" in str(f.type) else str
            kwargs["type"] = lambda text, cast=cast: tuple(cast(s.strip()) for s in text.split(",") if s.strip())
        elif f.type in ("int", "float"):
            kwargs["type"] = int if f.type == "int" else float
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def config_from_args(ns: argparse.Namespace) -> CacheBenchConfig:
    return CacheBenchConfig(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(CacheBenchConfig)})


def _cell_id(trace: str, size_tb: float, who: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{Path(trace).stem}__{size_tb:g}TB__{who}")


def load_named_trace(name: str):
    """``default``/``large`` (bundled), ``synth:SEED`` (generated in memory) or a processed parquet path."""
    from iroko_gym.cache.trace import default_trace_path, load_trace

    if name == DEFAULT_TRACE:
        return load_trace()
    if name == "large":
        return load_trace(default_trace_path().with_name("large_trace.parquet"))
    if name.startswith("synth:"):
        from iroko_gym.cache.pipeline import process_log
        from iroko_gym.cache.synthetic import SyntheticConfig, generate_log

        seed = name.removeprefix("synth:")
        if not seed.isdigit():
            raise ConfigError(f"trace {name!r}: write synth:SEED with an integer seed, e.g. synth:1")
        return process_log(generate_log(SyntheticConfig(seed=int(seed))))[0]
    return load_trace(name)


def _check_resume(root: Path, config: CacheBenchConfig) -> None:
    stored = root / "config.json"
    if not (config.resume and stored.exists()):
        return
    old, new = read_json(stored), json_config(config)
    changed = sorted(k for k in new if k not in ("resume", "out") and old.get(k) != new[k])
    if changed:
        raise ConfigError(f"--resume with a config that differs from {stored} in {changed}: "
                          "use another --out, or the stored values")


def json_config(config: CacheBenchConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def run_cache_grid(config: CacheBenchConfig) -> pd.DataFrame:
    """Train the learned agent (if asked), replay/evaluate every cell (skipping stored ones with ``resume``)."""
    from iroko_gym.cache.baselines import evaluate_agent, load_agent
    from iroko_gym.cache.core import CacheGeometry
    from iroko_gym.cache.lcs_policies import LCS_POLICIES, lcs_replay
    from iroko_gym.cache.policies import replay

    root = ResultStore(config.out).root / "cache"
    _check_resume(root, config)
    write_json(root / "config.json", json_config(config))
    agent = None
    for t, trace_name in enumerate(config.traces):
        trace = load_named_trace(trace_name)
        split = int(len(trace) * config.train_fraction) if t == 0 else 0
        if t == 0 and LEARNED in config.agents:
            agent = _learned_agent(root, config, trace, split)
        for size in config.sizes_tb:
            cells = [("policy", p) for p in config.policies] + [("agent", a) for a in config.agents]
            for kind, who in cells:
                path = root / "runs" / f"{_cell_id(trace_name, size, who)}.json"
                if config.resume and path.exists():
                    continue
                began = time.perf_counter()
                geometry = CacheGeometry.from_tb(size)
                if kind == "policy":
                    result = lcs_replay(who, trace, geometry) if who in LCS_POLICIES else replay(who, trace, geometry)
                elif who == LEARNED:
                    result = evaluate_agent(agent, trace, size, "Cache-v1", who)
                else:
                    result = evaluate_agent(load_agent(who), trace, size, config.env_id, who)
                hits, kb = result.hits[split:], trace.kb[split:]
                write_json(path, {"trace": trace_name, "part": f"held-out (from access {split})" if split else "all",
                                  "size_tb": size, "kind": kind, "name": who, "accesses": int(len(hits)),
                                  "file_hit_rate": float(hits.mean()),
                                  "byte_hit_rate": float(kb[hits].sum() / kb.sum()),
                                  "seconds": time.perf_counter() - began, "versions": versions()})
    return load_cache_results(config.out)


def _learned_agent(root: Path, config: CacheBenchConfig, trace, split: int):
    """Train on the first ``split`` accesses (or reload the stored model when resuming)."""
    from iroko_gym.cache.learned import LearnConfig, head, load_agent_tensors, save_agent, train_agent

    model = root / "learned" / "model.npz"
    if config.resume and model.exists():
        return load_agent_tensors(model)
    agent, figures, learner = train_agent(head(trace, split), max(config.sizes_tb),
                                          LearnConfig(steps=config.learn_steps, seed=config.seed))
    save_agent(learner, model)
    write_json(root / "learned" / "training.json", {**figures, "trace": config.traces[0],
                                                     "size_tb": max(config.sizes_tb), "versions": versions()})
    return agent


def load_cache_results(out: str | Path) -> pd.DataFrame:
    rows = [read_json(p) for p in sorted((Path(out) / "cache" / "runs").glob("*.json"))]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["part"] = frame["part"].fillna("all")  # cells stored before parts were recorded
    return frame


def draw_cache(out: str | Path) -> list[Path]:
    """``summary.{md,csv}`` and ``plots/hit_rates.{png,pdf}`` of ``<out>/cache``."""
    from iroko_gym.bench.plots import FORMATS, save_figure, subplots

    root = Path(out) / "cache"
    table = load_cache_results(out).sort_values(["trace", "size_tb", "kind", "file_hit_rate"],
                                                ascending=[True, True, True, False])
    lines = ["| trace | accesses scored | cache (TB) | policy/agent | kind | hit rate | byte hit rate |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.trace} | {r.part} | {r.size_tb:g} | {r.name} | {r.kind} | {r.file_hit_rate:.4f} | "
              f"{r.byte_hit_rate:.4f} |" for r in table.itertuples()]
    written = [atomic_write(root / "summary.csv", lambda tmp: table.to_csv(tmp, index=False)),
               atomic_write(root / "summary.md", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))]
    traces = list(dict.fromkeys(table["trace"])) or ["(none)"]
    fig, axes = subplots(len(traces), 2, figsize=(11, 4.2 * len(traces)), squeeze=False)
    for row, trace in zip(axes, traces):
        mine = table[table["trace"] == trace].sort_values("size_tb")
        for name, group in mine.groupby("name", sort=False):
            style = "-o" if group["kind"].iloc[0] == "policy" else "--s"
            width = 2.5 if name == LEARNED else 1.2
            for ax, col in zip(row, ("file_hit_rate", "byte_hit_rate")):
                ax.plot(group["size_tb"], group[col], style, label=name, linewidth=width, markersize=4)
        part = mine["part"].iloc[0] if len(mine) else ""
        for ax, title in zip(row, ("hit rate", "byte hit rate")):
            ax.set_title(f"{trace} ({part}): {title}", fontsize=9)
            ax.set_xlabel("cache size (TB)")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    written += [save_figure(fig, root / "plots" / f"hit_rates.{ext}") for ext in FORMATS]
    return written
