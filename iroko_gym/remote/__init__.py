"""The remote training service: real systems ask a learner for actions (PPO, DQN).

``from iroko_gym.remote import RemoteAgent, RemoteServer`` — names resolve lazily, so importing
the package costs nothing until one is used (the server pulls in torch, the client does not).
See docs/remote.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RemoteAgent": "client", "Action": "client", "Trajectory": "client", "ClientStats": "client",
    "RemoteServer": "server", "ServerConfig": "server",
    "ClientConfig": "config", "PPOConfig": "config", "DQNConfig": "config",
    "ActionSpec": "config", "load_client_config": "config",
    "RL4SysAgent": "rl4sys", "load_rl4sys_config": "rl4sys",
}
__all__ = [
    "Action",
    "ActionSpec",
    "ClientConfig",
    "ClientStats",
    "DQNConfig",
    "PPOConfig",
    "RL4SysAgent",
    "RemoteAgent",
    "RemoteServer",
    "ServerConfig",
    "Trajectory",
    "load_client_config",
    "load_rl4sys_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'iroko_gym.remote' has no attribute {name!r}")
    return getattr(importlib.import_module(f"iroko_gym.remote.{module}"), name)
