"""Grid expansion: a :class:`BenchConfig` becomes the ordered list of runs it stands for.

A run is one (agent, topology, pattern, transport, seed) cell; its id names its directory under
``<out>/runs/``.  PPO needs a trained model per (topology, transport, seed) first: those are
:class:`TrainSpec` s, run before the evaluation grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from iroko_gym.bench.config import CC_AGENT_PREFIX, BenchConfig
from iroko_gym.errors import ConfigError
from iroko_gym.validate import did_you_mean

BASE_AGENTS = ("tcp", "max", "fair", "random", "aimd", "ppo")


@dataclass(frozen=True)
class RunSpec:
    """One evaluation run of the grid."""

    agent: str
    topo: str
    pattern: str
    transport: str
    seed: int
    cc: str
    held_out: bool

    @property
    def run_id(self) -> str:
        return f"{self.agent}__{self.topo}__{self.pattern}__{self.transport}__s{self.seed}"

    @property
    def rate_control(self) -> bool:
        """tcp agents run ``dc-tcp-v0`` (no rate limits); all others ``dc-iroko-v0``."""
        return not (self.agent == "tcp" or self.agent.startswith(CC_AGENT_PREFIX))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "run_id": self.run_id}


@dataclass(frozen=True)
class TrainSpec:
    """One PPO training job: a model per topology, transport and seed."""

    topo: str
    transport: str
    seed: int
    cc: str

    @property
    def model_id(self) -> str:
        return f"ppo__{self.topo}__{self.transport}__s{self.seed}"


def agent_cc(agent: str, default_cc: str) -> str:
    """Congestion control of an agent: ``tcp-bbr`` -> ``bbr``; every other agent the default."""
    return agent[len(CC_AGENT_PREFIX):] if agent.startswith(CC_AGENT_PREFIX) else default_cc


def check_agents(agents: tuple[str, ...]) -> None:
    for agent in agents:
        if agent not in BASE_AGENTS and not (agent.startswith(CC_AGENT_PREFIX) and len(agent) > len(CC_AGENT_PREFIX)):
            raise ConfigError(f"unknown agent {agent!r}{did_you_mean(agent, BASE_AGENTS)}; "
                              f"known: {list(BASE_AGENTS)} and tcp-<congestion control>")
    dupes = sorted({a for a in agents if agents.count(a) > 1})
    if dupes:
        raise ConfigError(f"agents {dupes} listed twice")


def expand_grid(config: BenchConfig) -> list[RunSpec]:
    """Every evaluation run, ordered seed-major so that an interrupted grid has whole seeds done."""
    check_agents(config.agents)
    train = set(config.train_patterns)
    return [
        RunSpec(agent, topo, pattern, transport, seed, agent_cc(agent, config.cc), pattern not in train)
        for seed in range(config.seeds)
        for topo in config.topo
        for transport in config.transports
        for pattern in config.patterns
        for agent in config.agents
    ]


def training_jobs(config: BenchConfig) -> list[TrainSpec]:
    """PPO models the grid needs (none without ``ppo`` or with ``--load``)."""
    if "ppo" not in config.agents or config.load_model:
        return []
    return [TrainSpec(topo, transport, seed, config.cc)
            for seed in range(config.seeds) for topo in config.topo for transport in config.transports]
