"""Hit rate and byte hit rate of the classic policies (and optionally an agent) on one trace.

    python -m iroko_gym.cache.baselines --trace T --size-tb X [--agent path.py:Agent] [--plot hr.png]

An agent is ``module:name`` or ``file.py:name`` naming a callable ``obs -> action`` (a class is
instantiated first, once per evaluation), or one of the built-ins ``always-keep``/``never-keep``.
It is run through ``gymnasium.make(--env-id)`` on the same trace and cache size, so its figures
are directly comparable with the policies' (all start from an empty cache and count every access).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from iroko_gym.atomic import atomic_write
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.policies import POLICIES, ReplayResult, replay
from iroko_gym.cache.trace import Trace, load_trace
from iroko_gym.errors import ConfigError, IrokoError

CacheAgent = Callable[[np.ndarray], Any]  # observation -> keep decision
BUILTIN_AGENTS: dict[str, Callable[[], CacheAgent]] = {
    "always-keep": lambda: lambda obs: 1,
    "never-keep": lambda: lambda obs: 0,
}


def load_agent(spec: str) -> CacheAgent:
    """Resolve ``module:name``, ``file.py:name`` or a built-in name to a fresh agent callable."""
    if spec in BUILTIN_AGENTS:
        return BUILTIN_AGENTS[spec]()
    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name:
        raise ConfigError(
            f"agent {spec!r} must be 'module:callable', 'file.py:callable' or one of {sorted(BUILTIN_AGENTS)}"
        )
    try:
        if source.endswith(".py"):
            module_spec = importlib.util.spec_from_file_location(Path(source).stem, source)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {source}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(source)
        target = getattr(module, name)
    except (ImportError, OSError, AttributeError) as exc:
        raise ConfigError(f"cannot load agent {spec!r}: {exc}") from exc
    agent = target() if inspect.isclass(target) else target
    if not callable(agent):
        raise ConfigError(f"agent {spec!r} is not callable; it must map an observation to an action")
    return agent


def evaluate_agent(
    agent: CacheAgent, trace: Trace, size_tb: float, env_id: str = "Cache-v0", name: str = "agent"
) -> ReplayResult:
    """One episode of ``agent`` over the whole trace in ``env_id``; per-access hits as for a policy replay."""
    import gymnasium as gym

    import iroko_gym  # noqa: F401  (registers the ids)

    # the whole trace from row 0 (Cache-v1 defaults to random windows), so figures compare with replays
    env = gym.make(env_id, trace=trace, cache_size_tb=size_tb, start=0, length=None, random_window=False)
    hits = np.zeros(len(trace), dtype=bool)
    began = time.perf_counter()
    obs, info = env.reset(seed=0)
    hits[info["access"]] = info["hit"]
    terminated = False
    while not terminated:
        obs, _, terminated, _, info = env.step(agent(obs))
        hits[info["access"]] = info["hit"]
    env.close()
    return ReplayResult(name, hits, trace.kb, time.perf_counter() - began)


def plot_hit_rates(results: Sequence[ReplayResult], path: str | Path, title: str = "") -> Path:
    """Cumulative file hit rate over the trace, one line per policy/agent, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for result in results:
        rate = np.cumsum(result.hits) / np.arange(1, len(result.hits) + 1)
        ax.plot(rate, label=f"{result.policy} ({result.file_hit_rate:.3f})", linewidth=1.2)
    ax.set_xlabel("access")
    ax.set_ylabel("cumulative file hit rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iroko_gym.cache.baselines", description=__doc__.splitlines()[0])
    parser.add_argument("--trace", help="processed trace (.parquet); default: the bundled synthetic trace")
    parser.add_argument("--size-tb", type=float, default=10.0, help="cache size in TB of 1024**3 kB (default 10)")
    parser.add_argument(
        "--policies", default=",".join(POLICIES), help=f"comma-separated subset of {','.join(POLICIES)}"
    )
    parser.add_argument("--agent", action="append", default=[], help="agent to evaluate as well (repeatable)")
    parser.add_argument("--env-id", default="Cache-v0", help="environment the agent runs in (default Cache-v0)")
    parser.add_argument("--plot", help="write a PNG of hit rate over the trace here")
    parser.add_argument("--json", help="write the figures as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        trace = load_trace(args.trace)
        geometry = CacheGeometry.from_tb(args.size_tb)
        results = [replay(p.strip(), trace, geometry) for p in args.policies.split(",") if p.strip()]
        results += [evaluate_agent(load_agent(spec), trace, args.size_tb, args.env_id, spec) for spec in args.agent]
    except IrokoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"trace: {args.trace or 'bundled default'} ({len(trace)} accesses), cache {args.size_tb:g} TB")
    width = max(len(r.policy) for r in results) + 2
    print(f"{'policy':<{width}}{'hit rate':>10}{'byte hit rate':>15}{'requests/s':>14}")
    for r in results:
        print(f"{r.policy:<{width}}{r.file_hit_rate:>10.4f}{r.byte_hit_rate:>15.4f}{r.requests_per_second:>14,.0f}")
    if args.plot:
        print(f"plot: {plot_hit_rates(results, args.plot, f'{args.size_tb:g} TB cache')}")
    if args.json:
        rows = [
            {
                "policy": r.policy,
                "file_hit_rate": r.file_hit_rate,
                "byte_hit_rate": r.byte_hit_rate,
                "seconds": r.seconds,
            }
            for r in results
        ]
        payload = json.dumps({"trace": args.trace, "size_tb": args.size_tb, "results": rows}, indent=1)
        print(f"json: {atomic_write(args.json, lambda tmp: tmp.write_text(payload))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
