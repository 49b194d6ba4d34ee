"""Configuration of the remote service: algorithm parameters, client and server settings.

Every config is a frozen dataclass validated on construction; dicts, JSON and YAML are only
accepted at the edge (:func:`algorithm_params`, :meth:`ClientConfig.from_mapping`,
:func:`load_client_config`) and converted at once.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iroko_gym.errors import ConfigError
from iroko_gym.validate import (check_bool, check_choice, check_int,
                                check_mapping, check_real, did_you_mean)

MAX_SEED = 2**63 - 1
MAX_ACTIONS = 65_536                          # discrete choices or box dimensions
MAX_BOUND = 1e9                               # |action.low|, |action.high|
MAX_OBSERVATION_SIZE = 10_000_000
MAX_MESSAGE_BYTES = 256 * 1024 * 1024         # gRPC message limit of client and server
MAX_LAYERS = 16
MAX_WIDTH = 65_536


def _check(ok: bool, what: str, value: object, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{what}={value!r}: {fix}")


# RL4Sys names that a ported config may still carry: the hint beats a spelling match
# (``input_size`` is not a misspelt ``minibatch_size``). See docs/migrating-from-rl4sys.md.
RL4SYS_HINTS = {
    "input_size": "RL4Sys's name: use observation_size (top level)",
    "act_dim": "RL4Sys's name: use action: {n: ...} (top level)",
    "pi_lr": "RL4Sys's name: use learning_rate",
    "q_lr": "RL4Sys's name: use learning_rate",
    "clip_ratio": "RL4Sys's name: use clip_coef",
    "lam": "RL4Sys's name: use gae_lambda",
    "train_pi_iters": "RL4Sys's name: use epochs",
    "buf_size": "RL4Sys's name: use buffer_size",
    "traj_per_epoch": "RL4Sys's name: updates are counted in steps here, use rollout_steps",
    "algorithm_name": "RL4Sys's name: use algorithm",
    "algorithm_parameters": "RL4Sys's name: use params",
    "train_server_address": "RL4Sys's name: use server_address",
    "send_frequency": "RL4Sys's name: use batch_size (trajectories per upload)",
}


def unknown_keys(what: str, given: Mapping[str, Any], known: list[str]) -> str | None:
    """``unknown <what> 'k' (hint), ...`` for the keys of ``given`` not in ``known``, or None.

    An RL4Sys name gets its hint instead of a spelling match (``input_size`` is not a misspelt
    ``minibatch_size``)."""
    unknown = [k for k in given if k not in known]
    if not unknown:
        return None
    parts = [f"{k!r} ({RL4SYS_HINTS[k]})" if k in RL4SYS_HINTS else f"{k!r}{did_you_mean(k, known)}"
             for k in unknown]
    return f"unknown {what} {', '.join(parts)}; known: {sorted(known)}"


def _raise_unknown(problems: list[str | None]) -> None:
    found = [p for p in problems if p]
    if found:
        hint = any(k in p for p in found for k in RL4SYS_HINTS)
        raise ConfigError("; ".join(found) + ("; an RL4Sys config file loads as it is with "
                                               "iroko_gym.remote.rl4sys" if hint else ""))


def _build(cls: type, data: object, where: str) -> Any:
    """Construct dataclass ``cls`` from ``data``, naming every unknown key with a suggestion."""
    data = check_mapping(where, data)
    _raise_unknown([unknown_keys(f"{where} key(s)", data, _names(cls))])
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _normalise(obj: object, checks: Mapping[str, Any]) -> None:
    """Run ``checks[name](name, value)`` on each field and store the plain-typed result."""
    for name, check in checks.items():
        object.__setattr__(obj, name, check(name, getattr(obj, name)))


def _ints(low: int, high: int) -> Any:
    return lambda name, value: check_int(name, value, low, high)


def _reals(low: float | None = None, high: float | None = None, positive: bool = False) -> Any:
    return lambda name, value: check_real(name, value, low, high, positive=positive)


def _hidden_sizes(name: str, values: object) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not 1 <= len(values) <= MAX_LAYERS:
        raise ConfigError(f"{name}={values!r}: give a list of 1 to {MAX_LAYERS} layer widths")
    return tuple(check_int(f"{name}[{i}]", v, 1, MAX_WIDTH) for i, v in enumerate(values))


def _optional(check: Any) -> Any:
    return lambda name, value: None if value is None else check(name, value)


_ACTIVATIONS = ("tanh", "relu")
_CORRECTIONS = ("clip", "vtrace")
_activation = (lambda name, value: check_choice(name, value, _ACTIVATIONS))
_PROBABILITY = _reals(0.0, 1.0)
_SEED = _ints(0, MAX_SEED)


@dataclass(frozen=True)
class PPOConfig:
    """Proximal policy optimisation (clipped objective, GAE, minibatches, KL early stop)."""

    hidden_sizes: tuple[int, ...] = (64, 64)  # MLP widths of actor and critic
    activation: str = "tanh"                  # tanh | relu
    learning_rate: float = 3e-4
    rollout_steps: int = 2048                 # environment steps per policy update
    epochs: int = 10                          # passes over each rollout
    minibatch_size: int = 64
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = 0.015           # stop the epochs early past this approx. KL
    normalize_advantages: bool = True
    init_log_std: float = 0.0                 # Gaussian actions only
    max_staleness: int = 0                    # accept trajectories this many versions behind
    correction: str = "clip"                  # clip | vtrace: how older trajectories are used
    vtrace_rho_bar: float = 1.0               # V-trace truncation of the advantage weights
    vtrace_c_bar: float = 1.0                 # V-trace truncation of the trace coefficients
    seed: int = 0

    def __post_init__(self) -> None:
        _normalise(self, {
            "hidden_sizes": _hidden_sizes, "activation": _activation,
            "learning_rate": _reals(high=1.0, positive=True),
            "rollout_steps": _ints(1, 10_000_000), "epochs": _ints(1, 1000),
            "minibatch_size": _ints(1, 10_000_000), "gamma": _PROBABILITY,
            "gae_lambda": _PROBABILITY, "clip_coef": _reals(high=10.0, positive=True),
            "entropy_coef": _reals(0.0, 1000.0), "value_coef": _reals(0.0, 1000.0),
            "max_grad_norm": _reals(high=1e6, positive=True),
            "target_kl": _optional(_reals(high=1000.0, positive=True)),
            "normalize_advantages": check_bool, "init_log_std": _reals(-20.0, 5.0),
            "max_staleness": _ints(0, 1_000_000), "seed": _SEED,
            "correction": lambda name, value: check_choice(name, value, _CORRECTIONS),
            "vtrace_rho_bar": _reals(high=1000.0, positive=True),
            "vtrace_c_bar": _reals(high=1000.0, positive=True)})
        _check(self.correction == "clip" or self.max_staleness > 0, "max_staleness",
               self.max_staleness, "correction='vtrace' needs stale data to correct: accept "
               "it with max_staleness > 0 (e.g. 1000)")


@dataclass(frozen=True)
class DQNConfig:
    """Deep Q-learning (replay buffer, target network, epsilon-greedy, action masks)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    learning_rate: float = 1e-3
    buffer_size: int = 50_000
    minibatch_size: int = 64
    gamma: float = 0.99
    learning_starts: int = 1000               # transitions stored before the first update
    train_every_steps: int = 4                # one gradient step per this many new transitions
    target_update_interval: int = 250         # gradient steps between target updates
    tau: float = 1.0                          # 1.0: hard copy; < 1: Polyak averaging
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 10_000         # transitions over which epsilon decays linearly
    max_grad_norm: float = 10.0
    publish_every_updates: int = 50           # gradient steps between published versions
    seed: int = 0

    def __post_init__(self) -> None:
        _normalise(self, {
            "hidden_sizes": _hidden_sizes, "activation": _activation,
            "learning_rate": _reals(high=1.0, positive=True),
            "buffer_size": _ints(1, 100_000_000), "minibatch_size": _ints(1, 1_000_000),
            "gamma": _PROBABILITY, "learning_starts": _ints(0, 10**12),
            "train_every_steps": _ints(1, 1_000_000),
            "target_update_interval": _ints(1, 10**12),
            "tau": _reals(0.0, 1.0, positive=True), "epsilon_start": _PROBABILITY,
            "epsilon_end": _PROBABILITY, "epsilon_decay_steps": _ints(1, 10**12),
            "max_grad_norm": _reals(high=1e6, positive=True),
            "publish_every_updates": _ints(1, 10**12), "seed": _SEED})

    def epsilon(self, steps: int) -> float:
        """Exploration rate after ``steps`` stored transitions (linear decay)."""
        frac = min(1.0, steps / self.epsilon_decay_steps)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)


AlgorithmConfig = PPOConfig | DQNConfig
ALGORITHMS: dict[str, type] = {"PPO": PPOConfig, "DQN": DQNConfig}


def algorithm_params(algorithm: str, params: Mapping[str, Any] | None = None) -> AlgorithmConfig:
    """Validated parameters of ``algorithm`` (PPO | DQN) from a plain mapping."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        hint = did_you_mean(str(algorithm).upper(), ALGORITHMS)
        raise ConfigError(f"unknown algorithm {algorithm!r}{hint}; known: PPO, DQN")
    return _build(ALGORITHMS[algorithm], {} if params is None else params,
                  f"{algorithm} parameter")


def params_json(params: AlgorithmConfig) -> str:
    """Canonical JSON of ``params`` (sorted keys), as sent to and compared by the server."""
    return json.dumps(dataclasses.asdict(params), sort_keys=True)


@dataclass(frozen=True)
class ActionSpec:
    """Discrete(n) when ``n`` is set, else a box with bounds ``low``/``high`` (same length)."""

    n: int | None = None
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.n is not None:
            object.__setattr__(self, "n", check_int("action.n", self.n, 1, MAX_ACTIONS))
            _check(not self.low and not self.high, "action", self,
                   "a discrete action (n) has no bounds")
            return
        _check(isinstance(self.low, tuple) and isinstance(self.high, tuple)
               and 1 <= len(self.low) == len(self.high) <= MAX_ACTIONS, "action.low/high",
               (self.low, self.high), "give bounds of equal, non-zero length (or n for discrete)")
        low = tuple(check_real(f"action.low[{i}]", v, -MAX_BOUND, MAX_BOUND)
                    for i, v in enumerate(self.low))
        high = tuple(check_real(f"action.high[{i}]", v, -MAX_BOUND, MAX_BOUND)
                     for i, v in enumerate(self.high))
        _check(all(lo < hi for lo, hi in zip(low, high)), "action.low/high",
               (low, high), "bounds must be finite with low < high")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def discrete(self) -> bool:
        return self.n is not None

    @property
    def size(self) -> int:
        """Number of logits (discrete) or action dimensions (box)."""
        return self.n if self.n is not None else len(self.low)


def spaces_from_gym(observation_space: Any, action_space: Any) -> tuple[int, ActionSpec]:
    """``(observation_size, ActionSpec)`` from Gymnasium Box/Discrete spaces."""
    from gymnasium import spaces

    if not isinstance(observation_space, spaces.Box):
        raise ConfigError(f"observation space {observation_space} must be a Box")
    size = int(math.prod(observation_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return size, ActionSpec(n=int(action_space.n))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return size, ActionSpec(low=tuple(float(v) for v in action_space.low),
                                high=tuple(float(v) for v in action_space.high))
    raise ConfigError(f"action space {action_space} must be Discrete or a 1-D Box")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a :class:`~iroko_gym.remote.client.RemoteAgent` needs."""

    client_id: str
    observation_size: int
    action: ActionSpec
    algorithm: str = "PPO"
    params: AlgorithmConfig = field(default_factory=PPOConfig)
    server_address: str = "127.0.0.1:50051"
    batch_size: int = 8                       # trajectories per upload
    flush_interval_s: float = 0.5             # upload a partial batch after this long
    max_buffered_trajectories: int = 4096     # oldest are dropped (and counted) past this
    connect_timeout_s: float = 30.0           # how long the constructor waits for the server
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0
    seed: int | None = None                   # local action sampling
    token: str | None = None                  # shared-token authentication
    tls_ca_file: str | None = None            # enables TLS; PEM of the server's CA
    max_message_bytes: int = MAX_MESSAGE_BYTES  # uploads are split to fit (server's limit)

    def __post_init__(self) -> None:
        _check(isinstance(self.client_id, str) and bool(self.client_id.strip()), "client_id",
               self.client_id, "give a non-empty string")
        object.__setattr__(self, "observation_size", check_int(
            "observation_size", self.observation_size, 1, MAX_OBSERVATION_SIZE))
        _check(isinstance(self.action, ActionSpec), "action", self.action, "must be an ActionSpec")
        expected = ALGORITHMS.get(self.algorithm)
        if expected is None:
            raise ConfigError(f"algorithm={self.algorithm!r}: use PPO or DQN")
        _check(isinstance(self.params, expected), "params", type(self.params).__name__,
               f"{self.algorithm} needs {expected.__name__}")
        _check(self.algorithm == "PPO" or self.action.discrete, "action", self.action,
               "DQN needs a discrete action (n)")
        _check(":" in self.server_address, "server_address", self.server_address,
               "use host:port")
        _normalise(self, {"batch_size": _ints(1, 1_000_000),
                          "max_buffered_trajectories": _ints(1, 100_000_000),
                          "max_message_bytes": _ints(4096, 2**31 - 1),
                          "seed": _optional(_SEED)})
        _normalise(self, dict.fromkeys(("flush_interval_s", "connect_timeout_s",
                                        "backoff_initial_s", "backoff_max_s"),
                                       _reals(high=86_400.0, positive=True)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClientConfig:
        """Build from a parsed JSON/YAML document (``action``: ``{n: 2}`` or ``{low, high}``)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"client config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        algorithm = data.get("algorithm", "PPO")
        params = data.get("params")
        _raise_unknown([  # every unknown key of the document at once, not one level at a time
            unknown_keys("client config key(s)", data, _names(cls)),
            unknown_keys(f"{algorithm} parameter key(s)", params, _names(ALGORITHMS[algorithm]))
            if isinstance(params, Mapping) and isinstance(algorithm, str)
            and algorithm in ALGORITHMS else None])
        data["params"] = algorithm_params(algorithm, data.get("params"))
        if "action" in data:
            data["action"] = _build(ActionSpec, data["action"], "action")
        return _build(cls, data, "client config")

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


def load_client_config(path: str | Path) -> ClientConfig:
    """Read a client config from a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read client config {path}: {exc.strerror}") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise ConfigError(f"cannot parse client config {path}: {exc}") from exc
    return ClientConfig.from_mapping(data)
