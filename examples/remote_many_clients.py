"""Several client processes against one server: distinct client ids and one shared id.

    python examples/remote_many_clients.py --steps 20000

Starts ``python -m iroko_gym.remote.server --port 0`` as a subprocess, then four CartPole
client processes: ``solo-a`` and ``solo-b`` train their own learners, two processes share
``shared`` and feed one learner. At the end every trajectory a client sent must be accounted
for by the server (received = trained + stale-dropped + queued + failed + lost at a crash;
nothing lost).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import grpc

CLIENTS = [("solo-a", 0), ("solo-b", 1), ("shared", 2), ("shared", 3)]


def worker(address: str, client_id: str, seed: int, steps: int) -> None:
    """One client process: CartPole with PPO; prints its stats as JSON."""
    import gymnasium as gym

    from iroko_gym.remote.client import RemoteAgent
    from iroko_gym.remote.gym_driver import config_for_env, drive, mean_return

    env = gym.make("CartPole-v1")
    config = config_for_env(env, client_id=client_id, algorithm="PPO",
                            params={"rollout_steps": 1024, "target_kl": None, "seed": 0},
                            server_address=address, seed=seed, flush_interval_s=0.05)
    with RemoteAgent(config) as agent:
        # Two processes feed "shared": neither waits for versions, stale data is counted.
        episodes = drive(agent, env, steps, seed=seed, lockstep=client_id != "shared")
    stats = agent.stats()
    print(json.dumps({"client_id": client_id, "seed": seed, "episodes": len(episodes),
                      "mean_return": mean_return(episodes), **stats.__dict__}), flush=True)


def start_server(checkpoint_dir: str) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "iroko_gym.remote.server", "--host", "127.0.0.1", "--port", "0",
         "--checkpoint-dir", checkpoint_dir], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline() if server.stdout else ""
    match = re.search(r"listening on (\S+)", line)
    if not match:
        server.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return server, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="step budget per client")
    parser.add_argument("--worker", nargs=3, metavar=("ADDRESS", "CLIENT_ID", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        address, client_id, seed = args.worker
        worker(address, client_id, int(seed), args.steps)
        return

    with tempfile.TemporaryDirectory(prefix="iroko-remote-") as ckpt:
        server, address = start_server(ckpt)
        try:
            procs = [subprocess.Popen([sys.executable, __file__, "--steps", str(args.steps),
                                       "--worker", address, cid, str(seed)],
                                      stdout=subprocess.PIPE, text=True)
                     for cid, seed in CLIENTS]
            reports = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
            if any(p.returncode for p in procs):
                raise SystemExit("a client process failed")
            from iroko_gym.remote.stubs import pb2, pb2_grpc

            with grpc.insecure_channel(address) as channel:
                stub = pb2_grpc.RemoteTrainerStub(channel)
                learners = stub.Metrics(pb2.MetricsRequest(), timeout=10).learners
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(30)
    sent: dict[str, int] = {}
    for report in reports:
        sent[report["client_id"]] = sent.get(report["client_id"], 0) + report["trajectories_sent"]
        print(json.dumps({k: report[k] for k in ("client_id", "seed", "episodes", "mean_return",
                                                 "trajectories_sent", "version")}))
    lost = 0
    for m in sorted(learners, key=lambda m: m.client_id):
        lost += sent[m.client_id] - m.trajectories_received
        print(json.dumps({"learner": m.client_id, "version": m.version,
                          "received": m.trajectories_received, "trained": m.trajectories_trained,
                          "stale_dropped": m.stale_dropped, "queued": m.queued_trajectories,
                          "failed": m.failed, "lost_at_crash": m.lost_at_crash, "queued_steps": m.queued}))
    print(json.dumps({"lost_trajectories": lost}))
    if lost:
        raise SystemExit(f"{lost} trajectories sent but not received")


if __name__ == "__main__":
    main()
