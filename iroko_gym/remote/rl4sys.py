"""RL4Sys compatibility: read an RL4Sys client config as it is, and offer RL4Sys's names.

Porting an RL4Sys client is one import line::

    from iroko_gym.remote.rl4sys import RL4SysAgent   # was: from rl4sys... import RL4SysAgent

    agent = RL4SysAgent("luna_conf.json")
    traj, action = agent.request_for_action(traj, obs, mask)
    action.update_reward(r); agent.add_to_trajectory(traj, action) ...

Every key of the RL4Sys file is mapped onto :class:`~iroko_gym.remote.config.ClientConfig`
and its PPO/DQN parameters (the table is :data:`TOP_LEVEL`, :data:`PPO_KEYS`, :data:`DQN_KEYS`
and docs/migrating-from-rl4sys.md). Keys that have no equivalent here are named in one
:class:`RL4SysConfigWarning`, never dropped silently; unknown keys are refused all at once.
The trap: RL4Sys's ``batch_size`` (in ``algorithm_parameters``) is a *minibatch*, ours at the
top level is trajectories per upload, so it maps onto ``minibatch_size`` and RL4Sys's
``send_frequency`` maps onto our top-level ``batch_size``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iroko_gym.errors import ConfigError
from iroko_gym.remote.client import Action, RemoteAgent, Trajectory
from iroko_gym.remote.config import ALGORITHMS, ActionSpec, ClientConfig, algorithm_params
from iroko_gym.validate import check_choice, check_int, check_mapping, did_you_mean

__all__ = ["DQN_KEYS", "PPO_KEYS", "RL4SysAction", "RL4SysAgent", "RL4SysConfigWarning",
           "RL4SysTrajectory", "TOP_LEVEL", "client_config_from_rl4sys", "load_rl4sys_config"]

# RL4Sys key -> our key, or None with the reason it has no equivalent (named in the warning).
TOP_LEVEL: dict[str, str | tuple[None, str]] = {
    "client_id": "client_id",
    "algorithm_name": "algorithm",
    "algorithm_parameters": "params",
    "train_server_address": "server_address",
    "send_frequency": "batch_size",
    "type": (None, "checked against the algorithm (PPO is onpolicy, DQN offpolicy), then unused"),
    "act_limit": (None, "RL4Sys scales continuous actions by it; actions here are discrete "
                        "(n = act_dim), give a box action to ClientConfig for continuous ones"),
    "max_traj_length": (None, "the system ends trajectories itself (mark_end_of_trajectory); "
                              "cut long ones with truncated=True"),
}
_SHARED = {"batch_size": "minibatch_size", "gamma": "gamma", "seed": "seed",
           "act_dim": "action.n", "input_size": "observation_size"}
PPO_KEYS: dict[str, str | tuple[None, str]] = {
    **_SHARED,
    "traj_per_epoch": (None, "updates are counted in steps here: rollout_steps (default 2048)"),
    "clip_ratio": "clip_coef",
    "lam": "gae_lambda",
    "pi_lr": "learning_rate",
    "vf_lr": (None, "actor and critic share one Adam at learning_rate (critic weighted by "
                    "value_coef)"),
    "train_pi_iters": "epochs",
    "train_v_iters": (None, "the critic is trained in the same minibatch steps as the actor"),
    "target_kl": "target_kl",
}
DQN_KEYS: dict[str, str | tuple[None, str]] = {
    **_SHARED,
    "buf_size": "buffer_size",
    "q_lr": "learning_rate",
    "epsilon": "epsilon_start",
    "epsilon_min": "epsilon_end",
    "epsilon_decay": (None, "epsilon decays linearly over epsilon_decay_steps (default 10 000)"),
    "train_update_freq": "train_every_steps",
    "target_update_freq": "target_update_interval",
    "train_q_iters": (None, "one gradient step per train_every_steps transitions"),
}
_ALGORITHM_KEYS = {"PPO": PPO_KEYS, "DQN": DQN_KEYS}
_TYPES = {"PPO": "onpolicy", "DQN": "offpolicy"}


class RL4SysConfigWarning(UserWarning):
    """RL4Sys keys that were read but have no equivalent here (one warning names them all)."""


def _unknown(where: str, given: Mapping[str, Any], known: Mapping[str, Any]) -> str | None:
    extra = [k for k in given if k not in known]
    if not extra:
        return None
    parts = [f"{k!r}{did_you_mean(k, known)}" for k in extra]
    return f"unknown RL4Sys {where} key(s) {', '.join(parts)}; known: {sorted(known)}"


def client_config_from_rl4sys(data: Mapping[str, Any], *,
                              overrides: Mapping[str, Any] | None = None) -> ClientConfig:
    """Our :class:`ClientConfig` from a parsed RL4Sys client config.

    ``overrides`` are our own algorithm parameters (e.g. ``{"rollout_steps": 4096}``), applied
    after the mapping. Raises one ConfigError for every unknown key; warns once
    (:class:`RL4SysConfigWarning`) naming every key that has no equivalent.
    """
    data = check_mapping("RL4Sys client config", data)
    algorithm = data.get("algorithm_name", "PPO")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm_name={algorithm!r}: supported here: PPO, DQN"
                          f"{did_you_mean(str(algorithm).upper(), ALGORITHMS)}")
    params = check_mapping("algorithm_parameters", data.get("algorithm_parameters", {}))
    problems = [_unknown("client config", data, TOP_LEVEL),
                _unknown(f"{algorithm} algorithm_parameters", params, _ALGORITHM_KEYS[algorithm])]
    if any(problems):
        raise ConfigError("; ".join(p for p in problems if p))
    for key in ("client_id", "act_dim", "input_size"):
        if key not in data and key not in params:
            raise ConfigError(f"RL4Sys config has no {key!r}: it is required")
    if "type" in data:
        kind = check_choice("type", data["type"], ("onpolicy", "offpolicy"))
        if kind != _TYPES[algorithm]:
            raise ConfigError(f"type={kind!r} contradicts algorithm_name={algorithm!r} "
                              f"(which is {_TYPES[algorithm]})")

    ours: dict[str, Any] = {}
    ignored: list[str] = []
    ours_params: dict[str, Any] = {}
    for table, source, target in ((TOP_LEVEL, data, ours),
                                  (_ALGORITHM_KEYS[algorithm], params, ours_params)):
        for key, value in source.items():
            mapped = table[key]
            if isinstance(mapped, tuple):
                if key != "type":
                    ignored.append(f"{key} ({mapped[1]})")
            elif mapped == "action.n":
                ours["action"] = ActionSpec(n=check_int("act_dim", value, 1))
            elif mapped == "observation_size":
                ours["observation_size"] = value
            elif mapped != "params":
                target[mapped] = value
    ours_params.update(overrides or {})
    ours["params"] = algorithm_params(algorithm, ours_params)
    if ignored:
        warnings.warn("RL4Sys key(s) with no equivalent, read and not used: "
                      + "; ".join(ignored), RL4SysConfigWarning, stacklevel=2)
    return ClientConfig(**ours)


def load_rl4sys_config(path: str | Path, *,
                       overrides: Mapping[str, Any] | None = None) -> ClientConfig:
    """Read an RL4Sys JSON client config file as it is (see :func:`client_config_from_rl4sys`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read RL4Sys config {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"cannot parse RL4Sys config {path}: {exc}") from exc
    return client_config_from_rl4sys(data, overrides=overrides)


class RL4SysAgent(RemoteAgent):
    """:class:`RemoteAgent` built from an RL4Sys config file, with RL4Sys's attribute names.

    ``request_for_action``, ``add_to_trajectory``, ``mark_end_of_trajectory``,
    ``action.update_reward`` and ``action.act`` are the same calls; ``local_version`` is the
    version of the local model.
    """

    def __init__(self, conf_path: str | Path | Mapping[str, Any], *,
                 overrides: Mapping[str, Any] | None = None) -> None:
        config = (client_config_from_rl4sys(conf_path, overrides=overrides)
                  if isinstance(conf_path, Mapping)
                  else load_rl4sys_config(conf_path, overrides=overrides))
        super().__init__(config)

    @property
    def local_version(self) -> int:
        return self.version


RL4SysAction = Action
RL4SysTrajectory = Trajectory
