#!/usr/bin/env python3
"""Smoke test: bring up an emulated data center, run a baseline agent, print a line per episode.

    sudo -E .venv/bin/python run_basic.py --topo dumbbell --episodes 2 --steps 50 --agent fair

Needs root (network namespaces). Leaves nothing behind: the env removes every namespace,
link, qdisc and process it created, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401  (registers the env ids)
from iroko_gym.dc.agents import AGENTS
from iroko_gym.dc.config import TRANSPORTS
from iroko_gym.errors import IrokoError
from iroko_gym.topologies import TOPOLOGIES


@dataclass(frozen=True)
class Args:
    topo: str
    episodes: int
    steps: int
    transport: str
    agent: str
    output_dir: str | None
    rate_mbps: float
    seed: int


def parse_args(argv: list[str] | None = None) -> Args:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topo", default="dumbbell", choices=sorted(TOPOLOGIES), help="topology name (default: dumbbell)")
    p.add_argument("--episodes", type=int, default=2, help="episodes to run")
    p.add_argument("--steps", type=int, default=50, help="steps per episode (step budget)")
    p.add_argument("--transport", default="tcp", choices=TRANSPORTS, help="traffic transport")
    p.add_argument("--agent", default="fair", choices=sorted(AGENTS), help="baseline agent")
    p.add_argument("--output-dir", default=None, help="where flow records go (default: a temp dir, printed)")
    p.add_argument("--rate-mbps", type=float, default=10.0, help="link capacity in Mbit/s")
    p.add_argument("--seed", type=int, default=0, help="seed of traffic patterns and the random agent")
    ns = p.parse_args(argv)
    if ns.episodes < 1 or ns.steps < 1:
        p.error(f"--episodes ({ns.episodes}) and --steps ({ns.steps}) must be >= 1")
    return Args(ns.topo, ns.episodes, ns.steps, ns.transport, ns.agent, ns.output_dir, ns.rate_mbps, ns.seed)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        env = gym.make("dc-iroko-v0", topology=args.topo, transport=args.transport, max_steps=args.steps,
                       capacity_mbps=args.rate_mbps, output_dir=args.output_dir)
    except IrokoError as exc:
        print(f"run_basic: {exc}", file=sys.stderr)
        return 2
    try:
        dc = env.unwrapped
        agent = AGENTS[args.agent](dc)
        env.action_space.seed(args.seed)
        for ep in range(args.episodes):
            obs, info = env.reset(seed=args.seed + ep)
            if ep == 0:
                print(f"env {info['prefix']}: {dc.topology.name} with {len(dc.topology.hosts)} hosts, "
                      f"{args.transport}, agent {args.agent}, output {info['episode_dir'].rsplit('/', 1)[0]}")
            rewards, utils, max_q, drops = [], [], 0.0, 0.0
            done = False
            while not done:
                obs, reward, terminated, truncated, info = env.step(agent(obs))
                rewards.append(reward)
                utils.append(info["utilisation"])
                max_q = max(max_q, float(info["port_backlog_max_bytes"].max()))
                drops += float(info["port_drops"].sum())
                done = terminated or truncated
            flows = info["flows"]
            print(f"episode {ep + 1}: steps {len(rewards)}  mean reward {np.mean(rewards):+.3f}  "
                  f"mean utilisation {np.mean(utils):.2f}  max queue {max_q / 1000:.1f} kB  drops {drops:.0f}  "
                  f"flows completed {flows['completed']}/{flows['flows']}")
    except IrokoError as exc:
        print(f"run_basic: {exc}", file=sys.stderr)
        return 1
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
