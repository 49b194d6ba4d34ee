"""Cache-v0 driven as a remote client: the cache server asks the learner whether to admit
each accessed file (the pattern of the original XCache study), and reports what it earned.

    python examples/remote_cache.py --steps 20000 [--algorithm PPO] [--address host:port]

Each access is one decision; the (very long) trace episode is cut into trajectories of
--segment accesses, marked truncated so that the learner bootstraps across the cut.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TransformObservation

import iroko_gym  # noqa: F401  (registers Cache-v0)
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import config_for_env, drive, mean_return, wait_for_learner
from iroko_gym.remote.server import RemoteServer, ServerConfig

PARAMS = {
    "PPO": {"rollout_steps": 2048, "entropy_coef": 0.01},
    "DQN": {"learning_starts": 1000, "epsilon_decay_steps": 10_000, "train_every_steps": 8,
            "publish_every_updates": 100},
}


def make_env(env_kwargs: dict) -> gym.Env:
    """Cache-v0 with log-scaled float32 observations (sizes and ids span many decades)."""
    env = gym.make("Cache-v0", **env_kwargs)
    shape = env.observation_space.shape
    space = spaces.Box(0.0, np.inf, shape, np.float32)
    return TransformObservation(env, lambda o: np.log1p(np.asarray(o, np.float64)).astype(
        np.float32), space)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="accesses to serve")
    parser.add_argument("--algorithm", choices=sorted(PARAMS), default="DQN")
    parser.add_argument("--segment", type=int, default=256, help="accesses per trajectory")
    parser.add_argument("--address", help="host:port of a running server (default: start one)")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help='JSON keyword arguments for gymnasium.make, e.g. \'{"trace": "t.parquet"}\'')
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env = make_env({"normalize_reward": True, **args.env_kwargs})
    with contextlib.ExitStack() as stack:
        address = args.address or stack.enter_context(RemoteServer(ServerConfig())).address
        config = config_for_env(env, client_id=f"cache-{args.algorithm.lower()}",
                                algorithm=args.algorithm,
                                params={**PARAMS[args.algorithm], "seed": args.seed},
                                server_address=address, seed=args.seed, batch_size=4)
        start = time.perf_counter()
        with RemoteAgent(config) as agent:
            episodes = drive(agent, env, args.steps, seed=args.seed, segment_steps=args.segment)
            wait_for_learner(agent)
            learner = agent.server_metrics()
        stats = agent.stats()
        elapsed = time.perf_counter() - start
    env.close()
    print(json.dumps({
        "env": "Cache-v0", "algorithm": args.algorithm, "steps": args.steps,
        "seconds": round(elapsed, 2), "episodes": len(episodes),
        "mean_episode_return": mean_return(episodes) if episodes else None, "trajectories_sent": stats.trajectories_sent,
        "steps_sent": stats.steps_sent, "server_steps_received": learner.steps_received,
        "version": stats.version, "dropped": stats.dropped_overflow + stats.dropped_rejected
        + stats.dropped_at_close, "last": dict(learner.last)}))


if __name__ == "__main__":
    main()
