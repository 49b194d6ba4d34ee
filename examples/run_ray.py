"""Train on iroko_gym envs with Ray RLlib (new API stack), on this machine or an existing cluster.

    sudo -E .venv/bin/python examples/run_ray.py --algo PPO --env dc-iroko-v0 --topo dumbbell \\
        --num-env-runners 2 --iterations 20 --config examples/ray_ppo_dc.yaml
    .venv/bin/python examples/run_ray.py --algo APPO --env Cache-v0 --iterations 5 --config examples/ray_ppo_cache.yaml

Every env runner builds its own env through ``iroko_gym.rllib`` (own prefix, own output dir under
``results/<run>/envs``).  Per iteration, ``results/<run>/learning_curve.parquet`` gets a row
(columns ``step, return_mean, seed, agent``, plus ``iteration, time_s, env_steps_per_s, env``), and
the same curve is stored in the benchmark's result layout (``results/<run>/training/...``), so that
``benchmark.py plot results/<run>`` draws it.  The algorithm is checkpointed to
``--checkpoint-dir`` and ``--resume`` continues from there.  See docs/ray.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import pandas as pd
import yaml

from iroko_gym import rllib as iroko_rllib
from iroko_gym.bench.storage import COMPLETED, RUNNING, ResultStore, write_json, write_parquet
from iroko_gym.errors import ConfigError, PrivilegeError
from iroko_gym.validate import check_choice, check_int, check_known_keys, check_mapping

ALGOS = ("PPO", "APPO", "SAC")
CONTINUOUS_ONLY = ("SAC",)
# Hyperparameter file sections: AlgorithmConfig methods, plus the env's own options.
SECTIONS = ("training", "env_runners", "learners", "rl_module", "reporting", "fault_tolerance")


@dataclass(frozen=True)
class RunConfig:
    """Command line of run_ray.py; every field is a flag (``num_env_runners`` -> ``--num-env-runners``)."""

    algo: str = field(default="PPO", metadata={"help": f"RLlib algorithm: {', '.join(ALGOS)} (SAC: continuous actions only)"})
    env: str = field(default="dc-iroko-v0", metadata={"help": "iroko_gym env id, e.g. dc-iroko-v0, Cache-v0"})
    topo: str | None = field(default=None, metadata={"help": "DC envs: the env's `topology` (e.g. dumbbell)"})
    num_env_runners: int = field(default=2, metadata={"help": "Ray actors that each step their own env(s)"})
    iterations: int = field(default=10, metadata={"help": "training iterations to run (in this invocation)"})
    config: str | None = field(default=None, metadata={"help": "hyperparameter file (YAML or JSON), see docs/ray.md"})
    run: str | None = field(default=None, metadata={"help": "run name (default <algo>-<env>[-<topo>])"})
    results_dir: str = field(default="results", metadata={"help": "results go to <results-dir>/<run>/"})
    checkpoint_dir: str | None = field(default=None, metadata={"help": "default <results-dir>/<run>/checkpoint"})
    resume: bool = field(default=False, metadata={"help": "continue from the checkpoint in --checkpoint-dir"})
    checkpoint_every: int = field(default=1, metadata={"help": "save a checkpoint every N iterations (and at the end)"})
    address: str | None = field(default=None, metadata={"help": "existing Ray cluster ('auto', 'ray://host:10001'); "
                                                                   "default $RAY_ADDRESS, else a local ray.init()"})
    num_cpus: int | None = field(default=None, metadata={"help": "local Ray only: logical CPUs (default env runners + 1)"})
    seed: int = field(default=0, metadata={"help": "RLlib seed (env runners derive their env seeds from it)"})

    def __post_init__(self) -> None:
        check_choice("--algo", self.algo, ALGOS)
        check_int("--num-env-runners", self.num_env_runners, 0)
        check_int("--iterations", self.iterations, 1)
        check_int("--checkpoint-every", self.checkpoint_every, 1)
        check_int("--seed", self.seed)
        if self.num_cpus is not None:
            check_int("--num-cpus", self.num_cpus, 1)

    @property
    def run_name(self) -> str:
        return self.run or "-".join(p for p in (self.algo, self.env, self.topo) if p)

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir).resolve() / self.run_name

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_dir).resolve() if self.checkpoint_dir else self.run_dir / "checkpoint"

    @property
    def ray_address(self) -> str | None:
        return self.address or os.environ.get("RAY_ADDRESS") or None


def parse_args(argv: list[str] | None = None) -> RunConfig:
    """Turn the RunConfig fields into flags and build the (validated) config."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            kind = int if f.type in ("int", "int | None") else str
            parser.add_argument(flag, type=kind, default=f.default, help=f.metadata["help"])
    return RunConfig(**vars(parser.parse_args(argv)))


def load_hyperparameters(path: str | None) -> dict[str, dict[str, Any]]:
    """Read a YAML/JSON file of ``{section: {kwarg: value}}``; sections are SECTIONS and ``env_config``."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path!r}: no such file")
    text = p.read_text()
    data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path!r}: expected a mapping of sections, got {type(data).__name__}")
    check_known_keys(f"--config {path!r} section", data, (*SECTIONS, "env_config"))
    for section, values in data.items():
        check_mapping(f"--config {path!r}: section {section!r}", values)
    return data


def env_config_for(cfg: RunConfig, hyper: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The env options: the file's ``env_config``, ``--topo``, and a per-run output dir for DC envs."""
    env_config = dict(hyper.get("env_config", {}))
    dc = iroko_rllib.is_dc(cfg.env)
    if cfg.topo is not None:
        if not dc:
            raise ConfigError(f"--topo {cfg.topo!r}: only the DC envs have a topology, not {cfg.env!r}")
        env_config["topology"] = cfg.topo
    if dc:
        env_config.setdefault("output_dir", str(cfg.run_dir / "envs"))
    return iroko_rllib.validate_env_config(cfg.env, env_config)


def check_algo_fits_env(algo: str, env_id: str, env_config: dict[str, Any]) -> None:
    """Reject SAC on a discrete-action env before any Ray worker starts."""
    if algo not in CONTINUOUS_ONLY:
        return
    env = gym.make(env_id, **env_config)
    try:
        space = env.action_space
    finally:
        env.close()
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"--algo {algo} needs continuous (Box) actions, but {env_id} has {space}; "
                          f"use --algo PPO or APPO for {env_id} (or a continuous env such as Cache-continuous-v0)")


def build_algo_config(cfg: RunConfig, hyper: dict[str, dict[str, Any]], env_config: dict[str, Any]) -> Any:
    """An RLlib AlgorithmConfig: modest resources, then the file's sections applied on top."""
    from ray.rllib.algorithms.appo import APPOConfig
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.algorithms.sac import SACConfig

    algo_config = {"PPO": PPOConfig, "APPO": APPOConfig, "SAC": SACConfig}[cfg.algo]()
    algo_config = (
        algo_config.environment(cfg.env, env_config=env_config)
        .env_runners(num_env_runners=cfg.num_env_runners, num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .debugging(seed=cfg.seed)
    )
    for section in SECTIONS:
        if section in hyper:
            try:
                algo_config = getattr(algo_config, section)(**hyper[section])
            except TypeError as exc:
                raise ConfigError(f"--config {cfg.config!r}: section {section!r}: {exc}") from exc
    return algo_config


class LearningCurve:
    """The learning curve of a run, rewritten after every iteration (readable mid-run), in two layouts.

    ``<run>/learning_curve.parquet``: one row per iteration (see the module docstring).
    ``<run>/training/<algo>-seed<seed>/{learning.parquet,run.json}``: the benchmark result layout,
    written by its :class:`~iroko_gym.bench.storage.ResultStore`, so ``benchmark.py plot
    <results-dir>/<run>`` draws the curve.
    """

    def __init__(self, cfg: RunConfig, topo: str, transport: str) -> None:
        self.path = cfg.run_dir / "learning_curve.parquet"
        self.store = ResultStore(cfg.run_dir)
        self.model_id = f"{cfg.algo}-seed{cfg.seed}"
        self.spec = {"model_id": self.model_id, "agent": cfg.algo, "env": cfg.env, "topo": topo, "transport": transport,
                     "seed": cfg.seed}
        self.rows: list[dict[str, Any]] = []
        if cfg.resume and self.path.exists():
            self.rows = [{str(k): v for k, v in row.items()} for row in pd.read_parquet(self.path).to_dict("records")]

    @property
    def elapsed_s(self) -> float:
        return float(self.rows[-1]["time_s"]) if self.rows else 0.0

    @property
    def iteration(self) -> int:
        return int(self.rows[-1]["iteration"]) if self.rows else 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        frame = pd.DataFrame(self.rows)
        write_parquet(self.path, frame)
        finished = frame[frame["return_mean"].notna()]
        bench = pd.DataFrame({"env_steps": finished["step"], "return": finished["return_mean"],
                              "iteration": finished["iteration"]})
        self.store.write_learning(self.model_id, bench)
        self._status(RUNNING)

    def finish(self) -> None:
        if self.rows:
            self._status(COMPLETED)

    def _status(self, status: str) -> None:
        self.store.write_training_meta(self.model_id, {"status": status, "spec": self.spec})


def curve_labels(env_id: str, env_config: dict[str, Any]) -> tuple[str, str]:
    """(topology, transport) of a DC env's options, the plots' grouping; (env id, "-") for others."""
    if not iroko_rllib.is_dc(env_id):
        return env_id, "-"
    from iroko_gym.dc.config import DCConfig

    dc = DCConfig.from_kwargs(**{**gym.spec(env_id).kwargs, **env_config})
    return dc.topology, dc.transport


def curve_row(cfg: RunConfig, result: dict[str, Any], iteration: int, time_s: float, steps_before: int,
              train_s: float) -> dict[str, Any]:
    """One learning-curve row from an ``Algorithm.train()`` result."""
    runners = result.get("env_runners", {})
    step = int(runners.get("num_env_steps_sampled_lifetime", 0))
    return {
        "step": step,
        "return_mean": float(runners.get("episode_return_mean", math.nan)),
        "seed": cfg.seed,
        "agent": cfg.algo,
        "iteration": iteration,
        "time_s": time_s,
        "env_steps_per_s": (step - steps_before) / train_s,
        "env": cfg.env,
    }


def init_ray(cfg: RunConfig) -> None:
    """Connect to the cluster at --address/$RAY_ADDRESS, or start a small local Ray."""
    import ray

    if cfg.ray_address:
        ray.init(address=cfg.ray_address)
    else:
        ray.init(num_cpus=cfg.num_cpus or cfg.num_env_runners + 1, include_dashboard=False,
                 object_store_memory=256 * 1024**2)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so that ``train``'s cleanup (algo.stop, ray.shutdown) runs.

    Installed after ``ray.init``, which sets a handler of its own that aborts the driver.
    """
    raise SystemExit(128 + signum)


def train(cfg: RunConfig) -> list[dict[str, Any]]:
    """Run ``cfg.iterations`` training iterations; returns the learning-curve rows of this run."""
    import ray

    hyper = load_hyperparameters(cfg.config)
    env_config = env_config_for(cfg, hyper)
    check_algo_fits_env(cfg.algo, cfg.env, env_config)
    local = cfg.ray_address is None
    if iroko_rllib.is_dc(cfg.env) and local and os.geteuid() != 0:
        raise PrivilegeError(f"{cfg.env} builds emulated networks: run as root, e.g. `sudo -E {sys.executable} {' '.join(sys.argv)}`")
    ckpt = cfg.checkpoint_path
    has_ckpt = (ckpt / "algorithm_state.pkl").exists() or (ckpt / "rllib_checkpoint.json").exists()
    if cfg.resume and not has_ckpt:
        raise ConfigError(f"--resume: no checkpoint in {ckpt}")
    if not cfg.resume and has_ckpt:
        raise ConfigError(f"a checkpoint exists in {ckpt}: pass --resume to continue it, or choose another --checkpoint-dir/--run")
    write_json(cfg.run_dir / "run.json",
               {"run": dataclasses.asdict(cfg), "hyperparameters": hyper, "env_config": env_config, "ray": ray.__version__})
    curve = LearningCurve(cfg, *curve_labels(cfg.env, env_config))
    algo_config = build_algo_config(cfg, hyper, env_config)

    init_ray(cfg)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    algo = None
    try:
        iroko_rllib.register_envs([cfg.env])
        algo = algo_config.build_algo()
        if cfg.resume:
            algo.restore_from_path(str(ckpt))
        start = time.monotonic() - curve.elapsed_s
        first = curve.iteration + 1
        for iteration in range(first, first + cfg.iterations):
            steps_before = curve.rows[-1]["step"] if curve.rows else 0
            t0 = time.monotonic()
            result = algo.train()
            dt = time.monotonic() - t0
            row = curve_row(cfg, result, iteration, time.monotonic() - start, steps_before, dt)
            curve.add(row)
            print(f"iter {iteration}: step {row['step']}  return_mean {row['return_mean']:.4g}  "
                  f"{row['env_steps_per_s']:.1f} env steps/s", flush=True)
            if (iteration - first + 1) % cfg.checkpoint_every == 0 or iteration == first + cfg.iterations - 1:
                algo.save_to_path(str(ckpt))
        curve.finish()
    finally:
        if algo is not None:
            algo.stop()  # env runners close their envs (DC: network torn down)
        ray.shutdown()
        if local and iroko_rllib.is_dc(cfg.env):
            iroko_rllib.reap_dead_envs()  # whatever a killed env runner left behind
    print(f"results: {curve.path}\ncheckpoint: {ckpt}")
    return curve.rows[len(curve.rows) - cfg.iterations:]


def main(argv: list[str] | None = None) -> int:
    try:
        train(parse_args(argv))
    except ConfigError as exc:
        print(f"run_ray.py: error: {exc}", file=sys.stderr)
        return 2
    except PrivilegeError as exc:
        print(f"run_ray.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_ray.py: interrupted; env runners stopped, Ray shut down", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
