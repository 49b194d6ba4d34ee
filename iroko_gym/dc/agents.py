"""Non-learned reference agents for the DC env: full rate, random, static fair share.

Each is a callable ``agent(obs) -> action`` built from the env, so scripts and the benchmark
drive every agent the same way.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from iroko_gym.dc.env import DCEnv
from iroko_gym.errors import ConfigError

Agent = Callable[[np.ndarray], np.ndarray]


def max_agent(env: DCEnv) -> Agent:
    """Every host at its full link capacity."""
    full = np.ones(env.action_space.shape, dtype=np.float32)
    return lambda obs: full


def random_agent(env: DCEnv) -> Agent:
    """Uniform random fractions, drawn from the action space (seeded by ``action_space.seed``)."""
    return lambda obs: env.action_space.sample()


def fair_agent(env: DCEnv) -> Agent:
    """Static equal share of the narrowest link among the current pattern's senders.

    Hosts that do not send get the minimum fraction.  The share is recomputed from
    ``env.current_pattern`` on each call, so it follows per-episode patterns.
    """

    def act(obs: np.ndarray) -> np.ndarray:
        pattern = env.current_pattern
        if pattern is None:
            raise ConfigError("fair agent: call env.reset() first (it needs the episode's traffic pattern)")
        senders = {f.src for f in pattern.flows}
        bottleneck = min(link.capacity_mbps for link in env.topology.links)
        action = np.full(env.action_space.shape, env.config.min_fraction, dtype=np.float32)
        for h in env.topology.hosts:
            if h.name in senders:
                action[h.index] = bottleneck / len(senders) / env.topology.host_capacity_mbps(h.name)
        return np.clip(action, env.action_space.low, env.action_space.high)

    return act


AGENTS: dict[str, Callable[[DCEnv], Agent]] = {"max": max_agent, "random": random_agent, "fair": fair_agent}
