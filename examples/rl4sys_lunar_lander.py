"""RL4Sys's own example, LunarLander-v3, run from its RL4Sys config file through iroko_gym.remote.

    python examples/rl4sys_lunar_lander.py --algorithm PPO --steps 1000000
    python examples/rl4sys_lunar_lander.py --algorithm DQN --conf my_rl4sys_conf.json

The config files (examples/rl4sys_luna_{ppo,dqn}.json) are in RL4Sys's format, read as they are
by :class:`~iroko_gym.remote.rl4sys.RL4SysAgent`; the keys RL4Sys has no name for are given as
``overrides`` below. Without --address an in-process server is started on 127.0.0.1 (a free
port; the file's train_server_address is replaced). Needs the box2d extra:
``pip install -e '.[remote,box2d]'``. Prints one JSON line: steps, wall seconds, mean return.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
import warnings
from pathlib import Path

import gymnasium as gym

from iroko_gym.remote.gym_driver import drive, mean_return
from iroko_gym.remote.rl4sys import RL4SysAgent, RL4SysConfigWarning
from iroko_gym.remote.server import RemoteServer, ServerConfig

HERE = Path(__file__).resolve().parent
SOLVED = 200.0
# Our parameters that an RL4Sys file cannot express (see docs/migrating-from-rl4sys.md).
OVERRIDES = {
    "PPO": {"rollout_steps": 4096, "entropy_coef": 0.01, "target_kl": 0.02},
    "DQN": {"learning_starts": 10_000, "epsilon_decay_steps": 100_000, "tau": 1.0,
            "publish_every_updates": 100, "hidden_sizes": [256, 256]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=sorted(OVERRIDES), default="PPO")
    parser.add_argument("--conf", type=Path, help="RL4Sys config (default: the example's)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="environment step budget")
    parser.add_argument("--address", help="host:port of a running server (default: start one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=None, help="stop after this long")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=JSON",
                        help="one of our parameters, e.g. rollout_steps=1024 (repeatable)")
    args = parser.parse_args()
    overrides = {**OVERRIDES[args.algorithm], "seed": args.seed}
    for item in args.override:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)

    conf_path = args.conf or HERE / f"rl4sys_luna_{args.algorithm.lower()}.json"
    conf = json.loads(conf_path.read_text())
    env = gym.make("LunarLander-v3")
    with contextlib.ExitStack() as stack:
        conf["train_server_address"] = args.address or stack.enter_context(
            RemoteServer(ServerConfig(port=0))).address
        start = time.perf_counter()
        with warnings.catch_warnings():  # the keys without equivalent are listed in the docs
            warnings.simplefilter("ignore", RL4SysConfigWarning)
            agent = RL4SysAgent(conf, overrides=overrides)
        with agent:
            def stop(eps: list) -> bool:
                return (len(eps) >= 100 and mean_return(eps) >= SOLVED) or (
                    args.budget_s is not None and time.perf_counter() - start > args.budget_s)

            episodes = drive(agent, env, args.steps, seed=args.seed, stop=stop)
        stats = agent.stats()
        elapsed = time.perf_counter() - start
    env.close()
    print(json.dumps({
        "algorithm": args.algorithm, "env_steps": episodes[-1].end_step if episodes else 0,
        "episodes": len(episodes), "mean_return_last_100": round(mean_return(episodes), 1),
        "solved": len(episodes) >= 100 and mean_return(episodes) >= SOLVED,
        "seconds": round(elapsed, 1), "version": stats.version,
        "best_mean_return_100": max((round(mean_return(episodes[:i]), 1) for i in
                                     range(100, len(episodes) + 1)), default=None),
        "load_average": round(os.getloadavg()[0], 2),
        "dropped": stats.dropped_overflow + stats.dropped_rejected + stats.dropped_at_close}))


if __name__ == "__main__":
    main()
