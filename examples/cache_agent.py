"""A hand-written caching agent for ``Cache-v0``, compared with keeping everything (= LRU).

    python examples/cache_agent.py [--length 5000] [--trace my_trace.parquet --size-tb 10]

The agent only sees what the environment shows (six dataset tokens, size, cache fill): it counts
how often each dataset (token tuple) was read and marks a file "keep" once its dataset has been
read ``threshold`` times.  The same class works with the baselines CLI:

    python -m iroko_gym.cache.baselines --agent examples/cache_agent.py:DatasetPopularity --plot hr.png

A learned agent that closes about half of the LRU -> Belady gap is trained and compared by
``benchmark.py cache`` (docs/cache.md).
"""

from __future__ import annotations

import argparse
from collections import Counter

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401  (registers the cache env ids)


class DatasetPopularity:
    """Keep files of datasets read at least ``threshold`` times so far."""

    def __init__(self, threshold: int = 3) -> None:
        self.threshold = threshold
        self.reads: Counter[tuple[int, ...]] = Counter()

    def __call__(self, obs: np.ndarray) -> int:
        dataset = tuple(obs[:6].tolist())
        self.reads[dataset] += 1
        return int(self.reads[dataset] >= self.threshold)


def run_episode(env: gym.Env, agent) -> dict:
    """One episode; returns the final running hit rates and the summed reward."""
    obs, info = env.reset(seed=0)
    total, terminated = 0.0, False
    while not terminated:
        obs, reward, terminated, _, info = env.step(agent(obs))
        total += float(reward)
    return {"file_hit_rate": info["file_hit_rate"], "byte_hit_rate": info["byte_hit_rate"], "reward": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", help="processed trace; default: the bundled one")
    parser.add_argument("--size-tb", type=float, default=10.0)
    parser.add_argument("--length", type=int, help="accesses per episode (default: the whole trace)")
    parser.add_argument("--reward-mode", default="cost", choices=["guess", "cost"])
    args = parser.parse_args()
    env = gym.make(
        "Cache-v0", trace=args.trace, cache_size_tb=args.size_tb, length=args.length, reward_mode=args.reward_mode
    )
    for name, agent in (("dataset-popularity", DatasetPopularity()), ("always-keep (LRU)", lambda obs: 1)):
        r = run_episode(env, agent)
        print(
            f"{name:<20} hit rate {r['file_hit_rate']:.4f}  byte hit rate {r['byte_hit_rate']:.4f}  "
            f"reward {r['reward']:.4g}"
        )
    env.close()


if __name__ == "__main__":
    main()
