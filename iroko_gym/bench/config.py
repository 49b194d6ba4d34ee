"""``BenchConfig``: every knob of ``benchmark.py run``, one field per CLI flag (CleanRL style).

Each field's ``metadata["help"]`` is its flag's help text; :func:`add_arguments` turns the
dataclass into argparse flags and :func:`config_from_args` back, so the CLI and the stored
``config.json`` of a result directory say exactly the same thing.  Comma-separated flags become
tuples.  ``--quick`` replaces the budget fields by :data:`QUICK` before validation, ``--paper``
by :data:`PAPER` (the grid of docs/results.md); flags given beside either still win.

PPO's hyperparameters have the names of :class:`iroko_gym.remote.config.PPOConfig` (the one
learner of the project): a field ``ppo_<name>`` (flag ``--ppo-<name>``) sets ``<name>`` of
:data:`PPO_DEFAULTS`; ``ppo_steps`` (the training budget) and ``ppo_control`` (what the policy
sees and sets, :data:`PPO_CONTROLS`) and ``ppo_reward`` (what each host of the local control is
rewarded by) are not learner parameters.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from iroko_gym.bench.local import HOST_REWARDS
from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import PPOConfig
from iroko_gym.validate import check_bool, check_choice, check_int, check_real

CC_AGENT_PREFIX = "tcp-"
#: ``central``: one policy, the env's whole observation in, every host's fraction out;
#: ``local``: one policy shared by the hosts, each host's own view in, a factor on its rate out
#: (``iroko_gym/bench/local.py``).
PPO_CONTROLS = ("central", "local")

#: The suite's PPO (CleanRL's continuous-action defaults, scaled down to minutes of real-time
#: training; no KL early stop).  The grid's ``ppo_*`` fields replace the fields of the same name.
PPO_DEFAULTS = PPOConfig(hidden_sizes=(64, 64), activation="tanh", learning_rate=3e-4, rollout_steps=100, epochs=4,
                         minibatch_size=25, gamma=0.95, gae_lambda=0.9, clip_coef=0.2, entropy_coef=0.0, value_coef=0.5,
                         max_grad_norm=0.5, target_kl=None, init_log_std=-0.5)


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark grid: agents x topologies x patterns x transports x seeds, and its budgets."""

    out: str = _f("results/benchmark", "result directory (results/<run-name>)")
    agents: tuple[str, ...] = _f(("tcp", "max", "fair", "random", "aimd", "ppo"),
                                 "agents: tcp, tcp-<cc> (e.g. tcp-bbr), max, fair, random, aimd, ppo")
    topo: tuple[str, ...] = _f(("dumbbell",), "topologies (dumbbell, nonblock, fattree, ...)")
    topo_params: str = _f("{}", "JSON topology parameters, shared ('{\"queue_ms\": 20}') or per topology "
                                "('{\"fattree\": {\"k\": 4}}')")
    patterns: tuple[str, ...] = _f(("incast", "stride", "hotspot", "bijection"),
                                   "evaluation patterns (held-out ones are those not in --train-patterns)")
    train_patterns: tuple[str, ...] = _f(("incast", "stride"), "patterns PPO is trained on")
    transports: tuple[str, ...] = _f(("tcp",), "transports (tcp, udp)")
    cc: str = _f("cubic", "TCP congestion control of every agent (the 'tcp' agent too; tcp-<cc> overrides)")
    seeds: int = _f(3, "seeds per grid cell (0..seeds-1)")
    episodes: int = _f(2, "evaluation episodes per run")
    steps: int = _f(200, "steps per episode")
    step_interval_ms: float = _f(100.0, "length of one env step")
    capacity_mbps: float = _f(20.0, "link capacity")
    workload: str = _f("websearch", "flow sizes: websearch (Poisson arrivals at --offered-load), fixed, long")
    offered_load: float = _f(0.7, "offered load per sender as a fraction of its link (websearch/fixed)")
    size_bytes: int = _f(200_000, "flow size of the 'fixed' workload")
    reward: str = _f("step", "reward spec of the env (see docs/rewards.md)")
    ppo_steps: int = _f(3000, "PPO training env steps per (topology, transport, seed)")
    ppo_control: str = _f("local", "what PPO's policy sees and sets: central (whole observation -> every rate) "
                                     "or local (one policy per host, shared: its own view -> a factor on its rate)")
    ppo_reward: str = _f("env", "what each host of the local control is rewarded by: env (the env's --reward, shared "
                                "by the hosts) or host (its own delivered rate, priced by its path's queue: docs/benchmark.md)")
    train_envs: int = _f(1, "PPO training envs stepped in parallel, one process and network each (they share the cores)")
    ppo_rollout_steps: int = _f(PPO_DEFAULTS.rollout_steps, "PPO env steps per update (all envs together)")
    ppo_minibatch_size: int = _f(PPO_DEFAULTS.minibatch_size, "PPO minibatch size (steps)")
    ppo_learning_rate: float = _f(PPO_DEFAULTS.learning_rate, "PPO learning rate")
    load_model: str = _f("", "evaluate this saved PPO model instead of training one")
    resume: bool = _f(False, "skip runs already completed in --out")
    quick: bool = _f(False, "tiny preset that finishes in a few minutes (what CI runs)")
    paper: bool = _f(False, "the grid of docs/results.md: issue 12's table with 5 seeds (about 35 min on 2 cores)")
    plot: bool = _f(True, "draw plots and the table at the end (--no-plot to skip)")
    cache: bool = _f(False, "also run the cache benchmark quick grid into <out>/cache")

    def __post_init__(self) -> None:
        for name in ("seeds", "episodes", "steps", "ppo_steps", "train_envs"):
            check_int(_flag(name), getattr(self, name), 1)
        for name in ("resume", "quick", "paper", "plot", "cache"):
            check_bool(_flag(name), getattr(self, name))
        for name in ("agents", "topo", "patterns", "transports"):
            if not getattr(self, name):
                raise ConfigError(f"{_flag(name)} is empty: give at least one name")
        check_real("--offered-load", self.offered_load, high=1.0, positive=True)
        check_choice("--ppo-control", self.ppo_control, PPO_CONTROLS)
        check_choice("--ppo-reward", self.ppo_reward, HOST_REWARDS)
        if self.ppo_reward == "host" and self.ppo_control != "local":
            raise ConfigError(f"--ppo-reward host rewards each host of the local control; --ppo-control is {self.ppo_control!r}: "
                              "give --ppo-control local, or --ppo-reward env")
        if self.quick and self.paper:
            raise ConfigError("--quick and --paper are two presets: give one")
        self.ppo_params(0)  # PPOConfig checks the ppo_* values now, before any run
        self.params_for("")  # parses --topo-params now, so a bad JSON fails before any run

    def ppo_params(self, seed: int) -> PPOConfig:
        """The learner's parameters: :data:`PPO_DEFAULTS` with this grid's ``ppo_*`` fields and ``seed``."""
        given = {name: getattr(self, f"ppo_{name}") for name in _PPO_FIELDS}
        try:
            return dataclasses.replace(PPO_DEFAULTS, seed=seed, **given)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"PPO parameters (--ppo-<name> sets PPOConfig.<name>): {exc}") from exc

    @property
    def topology_params(self) -> dict[str, Any]:
        try:
            params = json.loads(self.topo_params)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--topo-params {self.topo_params!r} is not JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise ConfigError(f"--topo-params {self.topo_params!r} must be a JSON object")
        return params

    def params_for(self, topo: str) -> dict[str, Any]:
        """Topology parameters of ``topo``: its own entry if ``--topo-params`` has one, else the shared ones."""
        params = self.topology_params
        if isinstance(params.get(topo), dict):
            return dict(params[topo])
        return {k: v for k, v in params.items() if not isinstance(v, dict)}

    @property
    def episode_s(self) -> float:
        return self.steps * self.step_interval_ms / 1000.0

    def pattern_params(self) -> dict[str, Any]:
        """Workload keys handed to ``generate_pattern`` with every pattern."""
        if self.workload == "long":
            return {}
        params: dict[str, Any] = {"workload": self.workload, "load": self.offered_load, "capacity_mbps": self.capacity_mbps,
                                  "duration_s": self.episode_s}
        if self.workload == "fixed":
            params["size_bytes"] = self.size_bytes
        return params

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


#: Fields that do not change what a run measures: ``--resume`` may change them.
RESUMABLE_CHANGES = frozenset({"out", "resume", "quick", "paper", "plot", "cache"})


def check_resumable(stored: dict[str, Any], config: BenchConfig) -> None:
    """Refuse to resume a grid stored with ``stored`` under ``config`` if any field that shapes a run differs.

    Resuming would otherwise mix runs of two grids in one result (the plots and the table read
    every stored run).  ``--quick`` itself is free to change: the fields it sets are compared.
    """
    given = config.as_dict()
    differ = []
    for name in sorted((set(stored) | set(given)) - RESUMABLE_CHANGES):
        if name not in given:
            differ.append(f"{name} (stored {stored[name]!r}; no such field now)")
        elif name not in stored:
            differ.append(f"{_flag(name)} (not stored; now {given[name]!r})")
        elif stored[name] != given[name]:
            differ.append(f"{_flag(name)} (stored {stored[name]!r}, now {given[name]!r})")
    if differ:
        raise ConfigError(f"--resume into {config.out}: its grid was run with another config, so the runs would mix; "
                          f"differs: {'; '.join(differ)}. Give the stored values ({config.out}/config.json) to resume, "
                          "or a new --out for the new grid")


#: Budgets of ``--quick``: about 3 minutes on 2 cores with the default 6 agents on a dumbbell.
#: 50 Mbit/s links at load 0.8 give a few dozen web-search flows per 4 s episode.
QUICK: dict[str, Any] = {
    "patterns": ("incast", "hotspot"), "train_patterns": ("incast",), "seeds": 2, "episodes": 1, "steps": 40,
    "capacity_mbps": 50.0, "offered_load": 0.8, "ppo_steps": 160, "ppo_rollout_steps": 40, "ppo_minibatch_size": 10,
}

#: ``--paper``: the grid of issue 12's first table (agents, patterns, split, 300 steps of 20 ms at
#: 100 Mbit/s, PPO 15,000 steps in rollouts of 500) with 5 seeds, so every cell has an interval, and
#: the reward the benchmark scores (``utilisation_queue``; ``--reward step`` gives the issue's), the
#: local control (``--ppo-control central`` gives the issue's PPO), each host rewarded by its own
#: delivered rate priced by its path's queue (``--ppo-reward env`` shares the env's reward instead)
#: and two training envs.
#: Held-out patterns (hotspot, bijection) and every evaluation seed's traffic are never trained on:
#: training episodes take their traffic seeds from ``bench/ppo.py``'s ``TRAIN_SEED_BASE`` upwards.
PAPER: dict[str, Any] = {
    "agents": ("tcp", "fair", "aimd", "ppo"), "patterns": ("incast", "stride", "hotspot", "bijection"),
    "train_patterns": ("incast", "stride"), "seeds": 5, "episodes": 1, "steps": 300, "step_interval_ms": 20.0,
    "capacity_mbps": 100.0, "ppo_steps": 15_000, "ppo_rollout_steps": 500, "reward": "utilisation_queue",
    "ppo_control": "local", "ppo_reward": "host", "train_envs": 2,
}
PRESETS = {"quick": QUICK, "paper": PAPER}

#: PPOConfig fields the grid sets: every ``<name>`` with a ``ppo_<name>`` field in BenchConfig.
_PPO_FIELDS = tuple(f.name[len("ppo_"):] for f in dataclasses.fields(BenchConfig)
                    if f.name.startswith("ppo_") and f.name[len("ppo_"):] in {p.name for p in dataclasses.fields(PPOConfig)})

_TUPLE_FIELDS = {f.name for f in dataclasses.fields(BenchConfig) if f.type == "tuple[str, ...]"}


def _flag(name: str) -> str:
    return "--load" if name == "load_model" else "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per field of :class:`BenchConfig` (``--load`` is ``load_model``)."""
    for f in dataclasses.fields(BenchConfig):
        flag = _flag(f.name)
        shown = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        text = f"{f.metadata['help']} (default: {shown})"
        if f.name in PRESETS:
            text += "; sets " + ", ".join(f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in PRESETS[f.name].items())
        kwargs: dict[str, Any] = {"dest": f.name, "help": text, "default": None}
        if f.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.name in _TUPLE_FIELDS:
            kwargs["metavar"] = "A,B"
        else:
            kwargs["type"] = {"int": int, "float": float}.get(str(f.type), str)
        parser.add_argument(flag, **kwargs)


def config_from_args(ns: argparse.Namespace) -> BenchConfig:
    """Flags given on the command line override --quick/--paper, which override the defaults."""
    given: dict[str, Any] = {f.name: getattr(ns, f.name) for f in dataclasses.fields(BenchConfig) if getattr(ns, f.name, None) is not None}
    for name in _TUPLE_FIELDS & set(given):
        given[name] = tuple(s.strip() for s in str(given[name]).split(",") if s.strip())
    preset = {k: v for name, p in PRESETS.items() if given.get(name) for k, v in p.items()}
    values: dict[str, Any] = {**preset, **given}
    return BenchConfig(**values)
