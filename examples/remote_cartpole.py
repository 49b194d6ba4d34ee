"""CartPole trained through the remote service (PPO or DQN), with a plot of return vs steps.

    python examples/remote_cartpole.py --algorithm PPO --steps 50000 --plot cartpole.png
    python examples/remote_cartpole.py --algorithm DQN --address 127.0.0.1:50051

Without --address an in-process server is started on 127.0.0.1 (a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import gymnasium as gym

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import Episode, config_for_env, drive, mean_return
from iroko_gym.remote.server import RemoteServer, ServerConfig

PARAMS = {
    "PPO": {"rollout_steps": 1024, "learning_rate": 3e-4, "target_kl": None},
    "DQN": {"learning_rate": 5e-4, "tau": 0.005, "minibatch_size": 128},
}


def plot(episodes: list[Episode], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([e.end_step for e in episodes], [e.ret for e in episodes], ".", ms=2, alpha=0.4,
            label="episode")
    ax.plot([e.end_step for e in episodes],
            [mean_return(episodes[:i + 1], 20) for i in range(len(episodes))], label="mean of 20")
    ax.set(xlabel="environment steps", ylabel="return", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=sorted(PARAMS), default="PPO")
    parser.add_argument("--steps", type=int, default=50_000, help="environment step budget")
    parser.add_argument("--address", help="host:port of a running server (default: start one)")
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, help="write return vs steps to this PNG")
    args = parser.parse_args()

    env = gym.make("CartPole-v1")
    with contextlib.ExitStack() as stack:
        address = args.address or stack.enter_context(RemoteServer(ServerConfig())).address
        config = config_for_env(
            env, client_id=args.client_id or f"cartpole-{args.algorithm.lower()}-{args.seed}",
            algorithm=args.algorithm, params={**PARAMS[args.algorithm], "seed": args.seed},
            server_address=address,
            seed=args.seed, flush_interval_s=0.05)
        start = time.perf_counter()
        with RemoteAgent(config) as agent:
            episodes = drive(agent, env, args.steps, seed=args.seed)
        stats = agent.stats()  # after close(): everything flushed
        elapsed = time.perf_counter() - start
    env.close()
    summary = {"algorithm": args.algorithm, "steps": args.steps, "episodes": len(episodes),
               "mean_return_last_100": mean_return(episodes), "seconds": round(elapsed, 2),
               "version": stats.version, "trajectories_sent": stats.trajectories_sent,
               "dropped": stats.dropped_overflow + stats.dropped_rejected + stats.dropped_at_close}
    print(json.dumps(summary))
    if args.plot:
        plot(episodes, args.plot, f"CartPole-v1, {args.algorithm} through iroko_gym.remote")


if __name__ == "__main__":
    main()
