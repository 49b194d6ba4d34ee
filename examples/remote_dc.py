"""dc-iroko-v0 driven as a remote client: the network controller asks the learner (PPO,
Gaussian actions) for every host's rate fraction at each step interval.

    sudo -E python examples/remote_dc.py --steps 2000 [--address host:port]
            [--env-kwargs '{"topology": "dumbbell"}']

Needs root and Mininet (the network is built on reset()). The action is one fraction in
[min_fraction, 1] per host; the client clips Gaussian samples to those bounds and reports the
unclipped sample, so PPO's likelihood ratios stay exact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time

import gymnasium as gym

import iroko_gym  # noqa: F401  (registers dc-iroko-v0)
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import config_for_env, drive, mean_return
from iroko_gym.remote.server import RemoteServer, ServerConfig

PARAMS = {"rollout_steps": 256, "minibatch_size": 64, "epochs": 10, "learning_rate": 3e-4,
          "init_log_std": -0.5, "entropy_coef": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="environment step budget")
    parser.add_argument("--address", help="host:port of a running server (default: start one)")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help="JSON keyword arguments for gymnasium.make('dc-iroko-v0', ...)")
    parser.add_argument("--segment", type=int, default=None,
                        help="cut episodes into trajectories of this many steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # SIGTERM ends the run through the finally below, so the network is torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = gym.make("dc-iroko-v0", **args.env_kwargs)
    try:
        with contextlib.ExitStack() as stack:
            address = args.address or stack.enter_context(RemoteServer(ServerConfig())).address
            config = config_for_env(env, client_id="dc-iroko-ppo", algorithm="PPO",
                                    params={**PARAMS, "seed": args.seed}, server_address=address, seed=args.seed,
                                    batch_size=1)
            start = time.perf_counter()
            with RemoteAgent(config) as agent:
                episodes = drive(agent, env, args.steps, seed=args.seed,
                                 segment_steps=args.segment)
            stats = agent.stats()
            elapsed = time.perf_counter() - start
    finally:
        env.close()
    print(json.dumps({
        "env": "dc-iroko-v0", "steps": args.steps, "seconds": round(elapsed, 2),
        "episodes": len(episodes),
        "mean_episode_return": mean_return(episodes) if episodes else None,
        "trajectories_sent": stats.trajectories_sent, "version": stats.version,
        "dropped": stats.dropped_overflow + stats.dropped_rejected + stats.dropped_at_close}))


if __name__ == "__main__":
    main()
