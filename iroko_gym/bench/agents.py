"""Agents of the benchmark: the DC baselines, the queue-driven AIMD controller and PPO.

Every agent is a callable ``obs -> action`` built from the (unwrapped) env, like
``iroko_gym.dc.agents``.  ``tcp`` agents run in ``dc-tcp-v0``, where the action is ignored, so
they act like ``max``.

AIMD rule (per host, once per step, from the observation alone):

* congestion of a port = its mean backlog as a fraction of its queue bound (the ``backlog``
  feature), or 1 if it dropped packets during the interval (when ``drops`` is observed);
* congestion of a host = the largest congestion over the ports its traffic can cross: every
  port on a shortest path to one of its current destinations (on a routed fat-tree, the whole
  ECMP set, since the kernel hashes each flow onto one path the host cannot see);
* rate in force ``r`` (the last ``H`` observation entries): if the host's congestion exceeds
  ``target`` then ``r <- max(beta * r, min_fraction)``, else ``r <- min(r + alpha, 1)``.

Reading the rate in force from the observation makes the controller stateless: every episode
starts from the full rate that ``reset`` applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iroko_gym.dc.agents import AGENTS as DC_AGENTS
from iroko_gym.dc.agents import Agent
from iroko_gym.errors import ConfigError
from iroko_gym.topologies.base import Topology
from iroko_gym.validate import did_you_mean


@dataclass(frozen=True)
class AimdRule:
    """Additive increase, multiplicative decrease of sending fractions on a congestion signal."""

    alpha: float = 0.05
    """Additive increase per step, as a fraction of the host's link."""
    beta: float = 0.5
    """Multiplicative decrease factor."""
    target: float = 0.1
    """Congestion (queue fraction) above which a host backs off."""
    min_fraction: float = 0.05
    """Lowest fraction the rule will set (the env's ``min_fraction``)."""

    def update(self, rates: np.ndarray, congestion: np.ndarray) -> np.ndarray:
        rates = np.asarray(rates, dtype=np.float64)
        backed_off = np.maximum(rates * self.beta, self.min_fraction)
        grown = np.minimum(rates + self.alpha, 1.0)
        return np.where(np.asarray(congestion) > self.target, backed_off, grown).astype(np.float32)


def port_feature_index(layout: Sequence[str], feature: str) -> np.ndarray | None:
    """Observation index of ``feature`` for every port, in port order (None if not observed)."""
    idx = [i for i, name in enumerate(layout) if name.startswith("port ") and name.endswith(f" {feature}")]
    return np.array(idx, dtype=np.int64) if idx else None


def host_paths(topology: Topology, destinations: dict[str, set[str]]) -> list[np.ndarray]:
    """Per host, the indices (into ``topology.ports``) of ports its traffic can cross."""
    return [np.array(sorted({i for d in destinations.get(h.name, ()) for i in topology.path_ports(h.name, d)}),
                     dtype=np.int64)
            for h in topology.hosts]


def destinations(pattern: Any) -> dict[str, set[str]]:
    """Each sending host's destinations in ``pattern``."""
    dests: dict[str, set[str]] = {}
    for flow in pattern.flows:
        dests.setdefault(flow.src, set()).add(flow.dst)
    return dests


def path_max(port_values: np.ndarray, paths: Sequence[np.ndarray]) -> np.ndarray:
    """Per host, the largest of ``port_values`` over its ports (0 for a host with none)."""
    return np.array([port_values[p].max() if p.size else 0.0 for p in paths])


def host_congestion(obs: np.ndarray, backlog_idx: np.ndarray, drops_idx: np.ndarray | None,
                    paths: Sequence[np.ndarray]) -> np.ndarray:
    """Largest port congestion (backlog fraction, 1 on drops) over each host's ports."""
    port_signal = np.asarray(obs, dtype=np.float64)[backlog_idx]
    if drops_idx is not None:
        port_signal = np.where(np.asarray(obs)[drops_idx] > 0, 1.0, port_signal)
    return path_max(port_signal, paths)


def aimd_agent(env: Any, rule: AimdRule | None = None) -> Agent:
    """The AIMD controller of the module docstring on ``env`` (an unwrapped DCEnv)."""
    layout = env.layout["observation"]
    backlog = port_feature_index(layout, "backlog")
    if backlog is None:
        backlog = port_feature_index(layout, "backlog_max")
    if backlog is None:
        raise ConfigError("aimd agent needs 'backlog' or 'backlog_max' in the env's state_model")
    drops = port_feature_index(layout, "drops")
    rule = rule or AimdRule(min_fraction=env.config.min_fraction)
    num_hosts = len(env.topology.hosts)
    cache: dict[int, list[np.ndarray]] = {}

    def act(obs: np.ndarray) -> np.ndarray:
        pattern = env.current_pattern
        if pattern is None:
            raise ConfigError("aimd agent: call env.reset() first (it needs the episode's destinations)")
        if id(pattern) not in cache:
            cache.clear()
            cache[id(pattern)] = host_paths(env.topology, destinations(pattern))
        congestion = host_congestion(obs, backlog, drops, cache[id(pattern)])
        return rule.update(np.asarray(obs)[-num_hosts:], congestion)

    return act


def make_agent(name: str, env: Any, model_path: str | None = None) -> Agent:
    """Agent ``name`` on the unwrapped ``env``; ``ppo`` loads ``model_path``."""
    if name == "aimd":
        return aimd_agent(env)
    if name == "ppo":
        if not model_path:
            raise ConfigError("the ppo agent needs a trained model (train it in the grid or pass --load)")
        from iroko_gym.bench.ppo import load_policy

        return load_policy(model_path, env)
    if name == "tcp" or name.startswith("tcp-"):
        return DC_AGENTS["max"](env)
    if name not in DC_AGENTS:
        raise ConfigError(f"unknown agent {name!r}{did_you_mean(name, [*DC_AGENTS, 'aimd', 'ppo', 'tcp'])}")
    return DC_AGENTS[name](env)
