"""Command line of the benchmark suite (``benchmark.py`` and ``python -m iroko_gym.bench``).

    benchmark.py run --agents tcp,fair,aimd,ppo --topo dumbbell --patterns incast,hotspot \\
        --seeds 3 --episodes 2 --out results/my-run [--quick] [--resume] [--load MODEL]
    benchmark.py plot results/my-run
    benchmark.py cache --sizes-tb 1,5,10 --agents learned,examples/cache_agent.py:DatasetPopularity [--quick]

Without a subcommand, the arguments are those of ``run`` (``benchmark.py --quick`` runs the
quick preset).  ``run`` needs root (it builds emulated networks) and draws the plots at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from iroko_gym.bench import cache, config
from iroko_gym.errors import IrokoError

COMMANDS = ("run", "plot", "cache")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmark.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or --resume) a grid on the emulated network, then plot")
    config.add_arguments(run)
    plot = sub.add_parser("plot", help="draw plots and the summary table from a stored result")
    plot.add_argument("out", help="result directory (results/<run-name>)")
    cache_cmd = sub.add_parser("cache", help="cache gyms: a learned agent and others vs classic and modern policies",
                               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cache.add_arguments(cache_cmd)
    return parser


def _plot(out: Path) -> int:
    from iroko_gym.bench.plots import draw_all

    emulation = (out / "runs").is_dir() or (out / "training").is_dir()  # training/ alone: e.g. examples/run_ray.py
    if not emulation and not (out / "cache").is_dir():
        print(f"benchmark: {out} holds no results (no runs/, training/ or cache/ directory)", file=sys.stderr)
        return 2
    written = draw_all(out) if emulation else []
    if (out / "cache" / "runs").is_dir():
        written += cache.draw_cache(out)
    print(f"wrote {len(written)} files under {out}")
    for name in ("summary.md", "cache/summary.md"):
        if (out / name).exists():
            print(f"\n{out / name}:\n{(out / name).read_text()}")
    return 0


def _run(cfg: config.BenchConfig) -> int:
    from iroko_gym.bench.runner import run_grid

    if os.geteuid() != 0:
        print("benchmark: run needs root (emulated networks use namespaces); try sudo -E", file=sys.stderr)
        return 2
    began = time.monotonic()
    counts = run_grid(cfg)
    print(f"grid done in {time.monotonic() - began:.0f} s: {counts['completed']} completed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped (already complete); results in {cfg.out}")
    if cfg.cache:
        cache.run_cache_grid(cache.CacheBenchConfig(out=cfg.out, sizes_tb=(1.0, 10.0), policies=("lru", "lfu", "belady", "gdsf"),
                                                    resume=cfg.resume))
    if cfg.plot:
        _plot(Path(cfg.out))
    return 1 if counts["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in COMMANDS and args[0] not in ("-h", "--help"):
        args.insert(0, "run")
    ns = _parser().parse_args(args)
    try:
        if ns.command == "plot":
            return _plot(Path(ns.out))
        if ns.command == "cache":
            cfg = cache.config_from_args(ns)
            cache.run_cache_grid(cfg)
            return _plot(Path(cfg.out))
        return _run(config.config_from_args(ns))
    except IrokoError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
