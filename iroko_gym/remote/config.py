"""Configuration of the remote service: algorithm parameters, client and server settings.

Every config is a frozen dataclass validated on construction; dicts, JSON and YAML are only
accepted at the edge (:func:`algorithm_params`, :meth:`ClientConfig.from_mapping`,
:func:`load_client_config`) and converted at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iroko_gym.errors import ConfigError


def _check(ok: bool, what: str, value: object, fix: str) -> None:
    if not ok:
        raise ConfigError(f"{what}={value!r}: {fix}")


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Construct dataclass ``cls`` from ``data``, naming unknown keys with a suggestion."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            raise ConfigError(f"unknown {where} key {key!r}{hint}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _positive_ints(name: str, values: tuple[int, ...]) -> None:
    _check(len(values) > 0 and all(isinstance(v, int) and v > 0 for v in values), name, values,
           "give a non-empty list of positive integers")


_ACTIVATIONS = ("tanh", "relu")


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
    seed: int = 0

    def __post_init__(self) -> None:
        _positive_ints("hidden_sizes", self.hidden_sizes)
        _check(self.activation in _ACTIVATIONS, "activation", self.activation,
               f"use one of {_ACTIVATIONS}")
        for name in ("learning_rate", "clip_coef", "max_grad_norm"):
            _check(getattr(self, name) > 0, name, getattr(self, name), "must be > 0")
        for name in ("rollout_steps", "epochs", "minibatch_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, name, value, "must be an integer > 0")
        for name in ("gamma", "gae_lambda"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "must be in [0, 1]")
        for name in ("entropy_coef", "value_coef"):
            _check(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        _check(self.target_kl is None or self.target_kl > 0, "target_kl", self.target_kl,
               "must be > 0, or null to disable the early stop")
        _check(isinstance(self.max_staleness, int) and self.max_staleness >= 0, "max_staleness",
               self.max_staleness, "must be an integer >= 0")


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
        _positive_ints("hidden_sizes", self.hidden_sizes)
        _check(self.activation in _ACTIVATIONS, "activation", self.activation,
               f"use one of {_ACTIVATIONS}")
        for name in ("learning_rate", "max_grad_norm"):
            _check(getattr(self, name) > 0, name, getattr(self, name), "must be > 0")
        for name in ("buffer_size", "minibatch_size", "train_every_steps",
                     "target_update_interval", "epsilon_decay_steps", "publish_every_updates"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, name, value, "must be an integer > 0")
        _check(isinstance(self.learning_starts, int) and self.learning_starts >= 0,
               "learning_starts", self.learning_starts, "must be an integer >= 0")
        _check(0.0 < self.tau <= 1.0, "tau", self.tau, "must be in (0, 1]")
        _check(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        for name in ("epsilon_start", "epsilon_end"):
            _check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "must be in [0, 1]")

    def epsilon(self, steps: int) -> float:
        """Exploration rate after ``steps`` stored transitions (linear decay)."""
        frac = min(1.0, steps / self.epsilon_decay_steps)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)


AlgorithmConfig = PPOConfig | DQNConfig
ALGORITHMS: dict[str, type] = {"PPO": PPOConfig, "DQN": DQNConfig}


def algorithm_params(algorithm: str, params: Mapping[str, Any] | None = None) -> AlgorithmConfig:
    """Validated parameters of ``algorithm`` (PPO | DQN) from a plain mapping."""
    if algorithm not in ALGORITHMS:
        close = difflib.get_close_matches(str(algorithm).upper(), list(ALGORITHMS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown algorithm {algorithm!r}{hint} (known: PPO, DQN)")
    return _build(ALGORITHMS[algorithm], params or {}, f"{algorithm} parameter")


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
            _check(isinstance(self.n, int) and self.n >= 1 and not self.low and not self.high,
                   "action.n", self.n, "a discrete action needs an integer n >= 1 and no bounds")
            return
        _check(len(self.low) >= 1 and len(self.low) == len(self.high), "action.low/high",
               (self.low, self.high), "give bounds of equal, non-zero length (or n for discrete)")
        _check(all(math.isfinite(lo) and math.isfinite(hi) and lo < hi
                   for lo, hi in zip(self.low, self.high)), "action.low/high",
               (self.low, self.high), "bounds must be finite with low < high")

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

    def __post_init__(self) -> None:
        _check(isinstance(self.client_id, str) and bool(self.client_id.strip()), "client_id",
               self.client_id, "give a non-empty string")
        _check(isinstance(self.observation_size, int) and self.observation_size >= 1,
               "observation_size", self.observation_size, "must be an integer >= 1")
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
        for name in ("batch_size", "max_buffered_trajectories"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, name, value, "must be an integer >= 1")
        for name in ("flush_interval_s", "connect_timeout_s", "backoff_initial_s", "backoff_max_s"):
            _check(getattr(self, name) > 0, name, getattr(self, name), "must be > 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClientConfig:
        """Build from a parsed JSON/YAML document (``action``: ``{n: 2}`` or ``{low, high}``)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"client config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        algorithm = data.get("algorithm", "PPO")
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
