"""The sidecar as a service: ``iroko-xcache-sidecar`` (one command), and how its actor is made.

    iroko-xcache-sidecar --cache-dir DIR --cache-size-tb 2 --redis redis://127.0.0.1:6390/0 \\
        --actor remote --server 127.0.0.1:50051 [--vocab trace.parquet] [--port 0]

It prints ``iroko-xcache-sidecar listening on 127.0.0.1:PORT``, serves until SIGINT/SIGTERM,
then closes its actor (flushing the trajectories it made) and prints one JSON line of counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iroko_gym.cache.core import CacheGeometry
from iroko_gym.errors import ConfigError, IrokoError
from iroko_gym.validate import check_choice, check_int
from iroko_gym.xcache.actors import OBS_SIZE, Actor, PolicyActor, RemoteActor
from iroko_gym.xcache.sidecar import Sidecar, SidecarConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActorSpec:
    """Which actor the sidecar asks: the remote learner (``remote``) or a local ``policy``."""

    kind: str = "remote"
    server_address: str = "127.0.0.1:50051"
    client_id: str = "xcache"
    policy: str = "always-keep"           # baselines agent spec: built-in, module:name, file.py:name
    segment_steps: int = 64               # answers per trajectory sent to the learner
    rollout_steps: int = 256              # PPO steps per policy update
    hidden: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("actor", self.kind, ("remote", "policy"))
        for name in ("segment_steps", "rollout_steps", "hidden"):
            check_int(name, getattr(self, name), 1)
        if ":" not in self.server_address:
            raise ConfigError(f"server address {self.server_address!r}: use host:port")

    def build(self) -> Actor:
        """Connect to the learner (waits for it) or load the local policy."""
        if self.kind == "policy":
            from iroko_gym.cache.baselines import load_agent

            return PolicyActor(load_agent(self.policy))
        from iroko_gym.remote.client import RemoteAgent
        from iroko_gym.remote.config import ActionSpec, ClientConfig, algorithm_params

        params = algorithm_params("PPO", {"hidden_sizes": (self.hidden, self.hidden),
                                          "rollout_steps": self.rollout_steps,
                                          "minibatch_size": min(64, self.rollout_steps), "seed": self.seed})
        config = ClientConfig(client_id=self.client_id, observation_size=OBS_SIZE, action=ActionSpec(n=2),
                              algorithm="PPO", params=params, server_address=self.server_address,
                              batch_size=4, flush_interval_s=0.2, seed=self.seed)
        return RemoteActor(RemoteAgent(config), segment_steps=self.segment_steps)


def add_actor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", default="remote", choices=("remote", "policy"),
                        help="remote: the training service (learns online); policy: a local agent")
    parser.add_argument("--policy", default="always-keep",
                        help="--actor policy: always-keep, never-keep, module:callable or file.py:callable")
    parser.add_argument("--client-id", default="xcache", help="the learner's client id")
    parser.add_argument("--segment-steps", type=int, default=64, help="answers per uploaded trajectory")
    parser.add_argument("--rollout-steps", type=int, default=256, help="PPO steps per update")
    parser.add_argument("--seed", type=int, default=0)


def actor_spec(args: argparse.Namespace, server_address: str) -> ActorSpec:
    return ActorSpec(kind=args.actor, server_address=server_address, client_id=args.client_id,
                     policy=args.policy, segment_steps=args.segment_steps,
                     rollout_steps=args.rollout_steps, seed=args.seed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iroko-xcache-sidecar", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, required=True, help="the cache's directory")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--cache-size-tb", type=float, help="logical capacity, TB of 1024**3 kB (as Cache-v0)")
    size.add_argument("--capacity-kb", type=int, help="logical capacity in kB")
    parser.add_argument("--redis", required=True, help="redis://127.0.0.1:PORT/0")
    parser.add_argument("--prefix", default="xcache:", help="Redis key prefix")
    parser.add_argument("--vocab", type=Path, help="the trace's vocabulary (token ids as offline)")
    parser.add_argument("--port", type=int, default=0, help="UDP port for the monitoring stream; 0: free")
    parser.add_argument("--high-watermark", type=float, default=0.95)
    parser.add_argument("--low-watermark", type=float, default=0.90)
    parser.add_argument("--reward-mode", default="guess", help="guess | cost | hit | byte_hit (as Cache-v0)")
    parser.add_argument("--server", default="127.0.0.1:50051", help="--actor remote: the training service")
    add_actor_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; exit 2 on bad arguments."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="iroko-xcache-sidecar: %(message)s")
    try:
        capacity = (args.capacity_kb if args.capacity_kb is not None
                    else CacheGeometry.from_tb(args.cache_size_tb).capacity_kb)
        config = SidecarConfig(cache_dir=args.cache_dir, capacity_kb=capacity, redis_url=args.redis,
                               prefix=args.prefix, vocab=args.vocab, port=args.port,
                               high_watermark=args.high_watermark, low_watermark=args.low_watermark,
                               reward_mode=args.reward_mode)
        actor = actor_spec(args, args.server).build()
    except IrokoError as exc:
        print(f"iroko-xcache-sidecar: {exc}", file=sys.stderr)
        return 2
    try:
        sidecar = Sidecar(config, actor)
    except BaseException:
        actor.close()
        raise
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sidecar.stop())
    print(f"iroko-xcache-sidecar listening on {config.host}:{sidecar.port}", flush=True)
    sidecar.serve_forever()
    summary = sidecar.stats.summary()
    sidecar.close()
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
