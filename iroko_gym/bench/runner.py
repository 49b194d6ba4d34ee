"""Runs the grid: PPO training jobs first, then every evaluation run, each stored as it ends.

One env per run (a fresh emulated network, closed in ``finally``), so a run that crashes cannot
disturb the next one.  A failed run is recorded with its error and traceback and the grid goes
on; Ctrl-C records the current run as failed ("interrupted") and stops.  ``--resume`` skips
runs whose ``run.json`` says completed, and refuses a result stored with another grid config.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym
import numpy as np
import pandas as pd

import iroko_gym  # noqa: F401  (registers the env ids)
from iroko_gym.bench.agents import make_agent
from iroko_gym.bench.config import BenchConfig, check_resumable
from iroko_gym.bench.grid import RunSpec, TrainSpec, expand_grid, training_jobs
from iroko_gym.bench.progress import Progress
from iroko_gym.bench.storage import (
    COMPLETED,
    FAILED,
    RUNNING,
    ResultStore,
    host_facts,
    versions,
    write_json,
    write_parquet,
)
from iroko_gym.dc.traffic.flow_results import FLOW_COLUMNS as EPISODE_FLOW_COLUMNS

NetworkFactory = Callable[..., Any]
STEP_LIST_KEYS = ("applied_rates_bps", "port_backlog_bytes", "port_backlog_max_bytes", "port_drops", "port_overlimits",
                  "host_tx_bps", "host_rx_bps")


def make_env(config: BenchConfig, topo: str, pattern: str, transport: str, cc: str, rate_control: bool,
             output_dir: Path, network_factory: NetworkFactory | None = None) -> gym.Env:
    """The env of one run (``dc-tcp-v0`` when ``rate_control`` is False)."""
    extra: dict[str, Any] = {"network_factory": network_factory} if network_factory else {}
    return gym.make("dc-iroko-v0" if rate_control else "dc-tcp-v0", topology=topo, topology_params=config.params_for(topo),
                    capacity_mbps=config.capacity_mbps, transport=transport, congestion_control=cc, pattern=pattern,
                    pattern_params=config.pattern_params(), step_interval_ms=config.step_interval_ms,
                    max_steps=config.steps, reward=config.reward, output_dir=str(output_dir), **extra)


def step_row(episode: int, action: np.ndarray, reward: float, info: dict[str, Any]) -> dict[str, Any]:
    """One ``steps.parquet`` row: scalars for plots, full per-port/per-host vectors for analysis."""
    backlog = np.asarray(info["port_backlog_bytes"], dtype=float)
    row: dict[str, Any] = {
        "episode": episode, "step": int(info["step"]), "interval_s": float(info["interval_s"]), "reward": reward,
        "utilisation": float(info["utilisation"]), "delivered_fraction": float(info["delivered_fraction"]),
        "queue_mean_bytes": float(backlog.mean()) if backlog.size else 0.0,
        "queue_max_bytes": float(np.max(info["port_backlog_max_bytes"], initial=0.0)),
        "bottleneck_queue_bytes": float(backlog.max(initial=0.0)),
        "drops": float(np.sum(info["port_drops"])), "overlimits": float(np.sum(info["port_overlimits"])),
        "throughput_bps": float(np.sum(info["host_rx_bps"])), "apply_latency_s": float(info["apply_latency_s"]),
        "action": np.asarray(action, dtype=float).tolist(),
    }
    for key in STEP_LIST_KEYS:
        row[key] = np.asarray(info[key], dtype=float).tolist()
    return row


#: Stored per-flow columns: the episode, then the rows of ``info["flow_rows"]`` as the env returned them.
FLOW_COLUMNS = ("episode", *EPISODE_FLOW_COLUMNS)
_FLOW_FLOATS = {"start_s": float, "fct_s": float, "ideal_fct_s": float, "slowdown": float}


def _base_meta(spec: dict[str, Any], config: BenchConfig) -> dict[str, Any]:
    return {"spec": spec, "status": RUNNING, "bench_config": config.as_dict(), "versions": versions(),
            "host": host_facts(), "started_unix": time.time()}


class Terminated(KeyboardInterrupt):
    """SIGTERM during a grid: handled like Ctrl-C (run recorded as failed, env closed, grid stops)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated("terminated (SIGTERM)")


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, KeyboardInterrupt):
        text = str(exc) or "interrupted (Ctrl-C)"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return {"status": FAILED, "error": text, "traceback": traceback.format_exc()}


@contextmanager
def _stored_job(directory: Path, meta: dict[str, Any], progress: Progress, save: Callable[[], None]) -> Iterator[list[Any]]:
    """Run the body as one stored job, whatever happens to it.

    A failure (or Ctrl-C/SIGTERM, which is re-raised to stop the grid) is recorded in run.json;
    envs appended to the yielded list are closed; ``save`` writes the job's data files.
    """
    began = time.monotonic()
    envs: list[Any] = []
    try:
        yield envs
    except (Exception, KeyboardInterrupt) as exc:
        meta.update(_failure(exc))
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        for env in envs:
            env.close()
        save()
        meta.update(wall_s=time.monotonic() - began, finished_unix=time.time())
        write_json(directory / "run.json", meta)
        progress.finish_run(meta["status"] + (f" ({meta['error']})" if meta.get("error") else ""))


def run_one(spec: RunSpec, config: BenchConfig, store: ResultStore, progress: Progress, model_path: str | None,
            network_factory: NetworkFactory | None = None) -> str:
    """Run and store one evaluation run; returns its final status."""
    directory = store.run_dir(spec.run_id)
    meta = _base_meta(spec.as_dict(), config)
    write_json(directory / "run.json", meta)
    steps: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []

    def save() -> None:
        write_parquet(directory / "steps.parquet", pd.DataFrame(steps))
        frame = pd.DataFrame(flows, columns=list(FLOW_COLUMNS)).astype(_FLOW_FLOATS)  # None (undefined) -> NaN
        write_parquet(directory / "flows.parquet", frame)

    began = time.monotonic()
    progress.start_run(spec.run_id, config.steps * config.episodes)
    with _stored_job(directory, meta, progress, save) as envs:
        env = make_env(config, spec.topo, spec.pattern, spec.transport, spec.cc, spec.rate_control,
                       directory / "traffic", network_factory)
        envs.append(env)
        dc: Any = env.unwrapped
        agent = make_agent(spec.agent, dc, model_path)
        env.action_space.seed(spec.seed)
        episodes = []
        for ep in range(config.episodes):
            obs, info = env.reset(seed=spec.seed * 1000 + ep)
            if ep == 0:
                meta["setup_s"] = time.monotonic() - began
            done, ret = False, 0.0
            while not done:
                action = agent(obs)
                obs, reward, terminated, truncated, info = env.step(action)
                steps.append(step_row(ep, action, float(reward), info))
                ret += float(reward)
                done = terminated or truncated
                progress.step()
            flows.extend({"episode": ep, **row} for row in info["flow_rows"])
            episodes.append({"episode": ep, "return": ret, "steps": int(info["step"]), "terminated": bool(terminated),
                             "flows": info["flows"], "pattern_seed": dc.current_pattern.seed})
        meta.update(status=COMPLETED, episodes=episodes, env_config=dc.config.as_dict(), layout=dc.layout)
    return str(meta["status"])


def train_one(spec: TrainSpec, config: BenchConfig, store: ResultStore, progress: Progress,
              network_factory: NetworkFactory | None = None) -> str:
    """Train and store one PPO model (model.pt, learning.parquet, run.json)."""
    from iroko_gym.bench.ppo import save_model, train

    directory = store.training_dir(spec.model_id)
    params = config.ppo_params(spec.seed)
    meta = _base_meta({**dataclasses.asdict(spec), "model_id": spec.model_id, "agent": "ppo",
                       "patterns": list(config.train_patterns)}, config)
    meta["ppo"] = {"total_steps": config.ppo_steps, "params": dataclasses.asdict(params)}
    write_json(directory / "run.json", meta)
    progress.start_run(f"train {spec.model_id}", config.ppo_steps)
    curve: list[dict[str, Any]] = []

    def save() -> None:
        store.write_learning(spec.model_id, pd.DataFrame(curve, columns=["episode", "env_steps", "return", "length", "pattern"]))

    with _stored_job(directory, meta, progress, save) as envs:
        options = [{"pattern": p, "pattern_params": config.pattern_params()} for p in config.train_patterns]
        vec = training_envs(config, spec, directory, options, network_factory)
        envs.append(vec)
        model, trained = train(vec, params, config.ppo_steps, options, progress.step, config.ppo_reward)
        curve.extend(trained)
        save_model(model, directory / "model.pt", config.ppo_control)
        meta.update(status=COMPLETED, layout=vec.get_attr("layout")[0])
    return str(meta["status"])


def training_envs(config: BenchConfig, spec: TrainSpec, directory: Path, options: list[dict[str, Any]],
                  network_factory: NetworkFactory | None = None) -> gym.vector.VectorEnv:
    """``--train-envs`` PPO training envs, each with its own network (prefix) and ``traffic/env<i>`` output_dir.

    One env steps in this process; several step in parallel, one process each (an env's step is
    mostly waiting out its interval, so N processes collect about N times as fast).
    """
    from iroko_gym.bench.local import LocalControl
    from iroko_gym.bench.ppo import EpisodeCycle

    def one(i: int) -> Callable[[], gym.Env]:
        def build() -> gym.Env:
            env = make_env(config, spec.topo, config.train_patterns[0], spec.transport, spec.cc, True,
                           directory / "traffic" / f"env{i}", network_factory)
            return EpisodeCycle(LocalControl(env) if config.ppo_control == "local" else env, i, spec.seed, options)
        return build

    fns = [one(i) for i in range(config.train_envs)]
    mode = gym.vector.AutoresetMode.SAME_STEP
    if len(fns) == 1:
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode, context="fork")


def run_grid(config: BenchConfig, network_factory: NetworkFactory | None = None, stream: TextIO = sys.stderr) -> dict[str, int]:
    """Run (or resume) the whole grid; returns how many runs completed, failed and were skipped."""
    store = ResultStore(config.out)
    stored = store.stored_config() if config.resume else None
    if stored is not None:
        check_resumable(stored, config)
    store.write_config(config.as_dict())
    trainings = training_jobs(config)
    runs = expand_grid(config)
    todo_train = [t for t in trainings if not (config.resume and store.is_complete(store.training_dir(t.model_id), ("model.pt",)))]
    todo_runs = [r for r in runs if not (config.resume and store.is_complete(store.run_dir(r.run_id)))]
    counts = {"completed": 0, "failed": 0, "skipped": len(trainings) + len(runs) - len(todo_train) - len(todo_runs)}
    progress = Progress([config.ppo_steps] * len(todo_train) + [config.steps * config.episodes] * len(todo_runs), stream)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        for tspec in todo_train:
            counts[train_one(tspec, config, store, progress, network_factory)] += 1
        for spec in todo_runs:
            model = None
            if spec.agent == "ppo":
                trained = store.training_dir(TrainSpec(spec.topo, spec.transport, spec.seed, spec.cc).model_id)
                model = config.load_model or str(trained / "model.pt")
            counts[run_one(spec, config, store, progress, model, network_factory)] += 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        progress.close()
    return counts


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
