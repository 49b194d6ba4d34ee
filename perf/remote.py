"""Benchmark of the remote training service; prints figures and writes perf/out/remote.json.

    .venv/bin/python -m perf.remote [--quick]

1. ``request_for_action`` latency (p50/p99) and actions/s for one client, 64x64 MLP.
2. Trajectory steps ingested per second by a server process with 1, 4 and 16 concurrent
   client processes sending pre-encoded batches (server capacity, not client speed).
3. 16 RemoteAgent processes acting and uploading: sent vs received (lost must be 0).
4. Time from a training step (new version published) to the client acting on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from perf._common import percentiles, write_result

REPO = Path(__file__).resolve().parents[1]
OBS, ACTIONS, HIDDEN = 8, 4, (64, 64)
# Server and client processes import this checkout's iroko_gym, whatever the cwd.
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}


def config(address: str, client_id: str, **fields):
    from iroko_gym.remote.config import ActionSpec, ClientConfig, PPOConfig

    params = fields.pop("params", PPOConfig(hidden_sizes=HIDDEN, rollout_steps=10**6))  # never trains
    return ClientConfig(client_id=client_id, observation_size=OBS, action=ActionSpec(n=ACTIONS),
                        params=params, server_address=address, seed=0, **fields)


def start_server(*extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "iroko_gym.remote.server", "--host",
                             "127.0.0.1", "--port", "0", "--log-level", "WARNING", *extra],
                            stdout=subprocess.PIPE, text=True, env=_ENV)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"listening on (\S+)", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, match.group(1)


def stop_server(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(60)


def metrics(address: str):
    import grpc

    from iroko_gym.remote.stubs import pb2, pb2_grpc

    with grpc.insecure_channel(address) as channel:
        return pb2_grpc.RemoteTrainerStub(channel).Metrics(pb2.MetricsRequest(), timeout=30)


def decision_loop(agent, observations: np.ndarray, n: int, episode_steps: int) -> None:
    """What a system does at each decision point: act, reward, record; end every
    ``episode_steps`` steps. ``observations`` has 1024 rows."""
    traj = None
    for i in range(n):
        traj, action = agent.request_for_action(traj, observations[i & 1023])
        action.update_reward(1.0)
        if i % episode_steps == episode_steps - 1:
            agent.mark_end_of_trajectory(traj, action)
        else:
            agent.add_to_trajectory(traj, action)


def bench_actions(n: int) -> dict:
    """Per-call latency of request_for_action and the full client loop rate."""
    from iroko_gym.remote.client import RemoteAgent
    from iroko_gym.remote.server import RemoteServer, ServerConfig

    results = {}
    with RemoteServer(ServerConfig()) as server:
        agent = RemoteAgent(config(server.address, "latency", batch_size=64))
        rng = np.random.default_rng(0)
        observations = rng.standard_normal((1024, OBS)).astype(np.float32)
        lat = np.empty(n, np.int64)
        traj = None
        clock = time.perf_counter_ns
        for i in range(n):
            obs = observations[i & 1023]
            t0 = clock()
            traj, action = agent.request_for_action(traj, obs)
            lat[i] = clock() - t0
            if i % 200 == 199:
                agent.mark_end_of_trajectory(traj, action)
        for name, value in percentiles(lat / 1e3, "p50", "p99").items():
            results[f"request_for_action_{name}_us"] = value
        results["request_for_action_per_s"] = float(1e9 / lat.mean())
        start = time.perf_counter()
        decision_loop(agent, observations, n, 200)
        results["client_loop_actions_per_s"] = n / (time.perf_counter() - start)
        agent.close()
    return results


def ingest_worker(address: str, client_id: str, seconds: float) -> None:
    """Send pre-encoded batches (8 trajectories x 200 steps) for ``seconds``; print count."""
    import grpc

    from iroko_gym.remote.client import RemoteAgent

    # A DQN learner that never trains: ingestion = validate, queue, copy into its replay ring.
    from iroko_gym.remote.config import DQNConfig
    from iroko_gym.remote.protocol import TrajectoryData, encode_trajectory
    from iroko_gym.remote.stubs import pb2, pb2_grpc

    params = DQNConfig(hidden_sizes=HIDDEN, buffer_size=100_000, learning_starts=10**12)
    RemoteAgent(config(address, client_id, algorithm="DQN", params=params)).close()
    rng = np.random.default_rng(0)
    steps = 200
    traj = TrajectoryData(1, rng.standard_normal((steps, OBS)).astype(np.float32),
                          rng.integers(0, ACTIONS, steps), np.ones(steps, np.float32),
                          np.full(steps, -1.38, np.float32), None, True, None)
    request = pb2.ReportRequest(client_id=client_id, have_version=1,
                                trajectories=[encode_trajectory(traj)] * 8)
    sent = 0
    with grpc.insecure_channel(address) as channel:
        report = pb2_grpc.RemoteTrainerStub(channel).Report
        start = time.time()
        while time.time() < start + seconds:
            report(request, timeout=30)
            sent += 8
        end = time.time()
    print(json.dumps({"trajectories": sent, "steps": sent * steps, "start": start, "end": end}),
          flush=True)


def agent_worker(address: str, client_id: str, actions: int) -> None:
    """A real RemoteAgent acting and uploading; prints its stats."""
    from iroko_gym.remote.client import RemoteAgent

    rng = np.random.default_rng(int(client_id.rsplit("-", 1)[-1]))
    obs = rng.standard_normal((1024, OBS)).astype(np.float32)
    with RemoteAgent(config(address, client_id, flush_interval_s=0.05)) as agent:
        decision_loop(agent, obs, actions, 100)
    print(json.dumps(agent.stats().__dict__), flush=True)


def spawn(role: str, address: str, client_id: str, amount: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "perf.remote", "--role", role, address, client_id,
                             str(amount)], stdout=subprocess.PIPE, text=True, cwd=REPO)


def bench_ingest(clients: int, seconds: float) -> dict:
    server, address = start_server("--workers", "16")
    try:
        procs = [spawn("ingest", address, f"ingest-{i}", seconds) for i in range(clients)]
        reports = [json.loads(p.communicate()[0].splitlines()[-1]) for p in procs]
        m = metrics(address)
        while any(l.queued for l in m.learners):
            time.sleep(0.01)
            m = metrics(address)
        drained = time.time()
        received = sum(l.steps_received for l in m.learners)
        consumed = sum(l.steps_trained for l in m.learners)
    finally:
        stop_server(server)
    # The window runs from the first client's first send to the last client's last reply
    # (process start-up excluded); with several clients, windows that overlap little give a
    # lower rate, never a higher one.
    first = min(r["start"] for r in reports)
    window = max(r["end"] for r in reports) - first
    return {"clients": clients, "steps_sent": sum(r["steps"] for r in reports),
            "steps_received": received, "steps_consumed": consumed,
            "seconds": round(window, 2), "steps_per_s": received / window,
            "consumed_steps_per_s": consumed / (drained - first)}


def bench_lossless(clients: int, actions: int) -> dict:
    server, address = start_server("--workers", "16")
    try:
        procs = [spawn("agent", address, f"agent-{i}", actions) for i in range(clients)]
        stats = [json.loads(p.communicate()[0].splitlines()[-1]) for p in procs]
        deadline = time.monotonic() + 60
        while True:
            m = metrics(address)
            if all(l.queued == 0 for l in m.learners) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        stop_server(server)
    sent = sum(s["trajectories_sent"] for s in stats)
    dropped = sum(s["dropped_overflow"] + s["dropped_rejected"] + s["dropped_at_close"]
                  for s in stats)
    received = sum(l.trajectories_received for l in m.learners)
    return {"clients": clients, "trajectories_ended": sum(s["trajectories_ended"] for s in stats),
            "trajectories_sent": sent, "trajectories_received": received,
            "client_dropped": dropped, "lost": sent - received}


def bench_version_latency(rounds: int) -> dict:
    """Client acts continuously (10-step trajectories); the learner trains every 2048 steps.
    Latency = first action on version v+1 minus the moment the learner published it."""
    from iroko_gym.remote.client import RemoteAgent
    from iroko_gym.remote.config import PPOConfig
    from iroko_gym.remote.server import RemoteServer, ServerConfig

    params = PPOConfig(hidden_sizes=HIDDEN, rollout_steps=2048, epochs=2, max_staleness=1000)
    published: dict[int, float] = {}
    latencies = []
    with RemoteServer(ServerConfig()) as server:
        agent = RemoteAgent(config(server.address, "fresh", params=params, batch_size=8,
                                   flush_interval_s=0.01))
        learner = server.learner("fresh")
        stop = threading.Event()

        def watch() -> None:
            seen = learner.version
            while not stop.is_set():
                version = learner.version
                if version != seen:
                    published[version] = time.perf_counter()
                    seen = version
                time.sleep(0.0002)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        obs = np.zeros(OBS, np.float32)
        traj, acted = None, 1
        deadline = time.monotonic() + 120
        while acted < rounds + 1 and time.monotonic() < deadline:
            traj, action = agent.request_for_action(traj, obs)
            if traj.version > acted and traj.version in published:
                latencies.append(time.perf_counter() - published[traj.version])
                acted = traj.version
            if len(traj) == 9:
                agent.mark_end_of_trajectory(traj, action)
            else:
                agent.add_to_trajectory(traj, action)
            time.sleep(0)  # a real system does other work between decisions
        stop.set()
        agent.close()
    ms = np.array(latencies) * 1e3
    return {"versions": len(ms), **{f"{k}_ms": v for k, v in percentiles(ms, "p50", "max").items()}} \
        if len(ms) else {"versions": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (a smoke run)")
    parser.add_argument("--role", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        role, address, client_id, amount = args.role
        if role == "ingest":
            ingest_worker(address, client_id, float(amount))
        else:
            agent_worker(address, client_id, int(amount))
        return

    import torch

    torch.set_num_threads(1)
    quick = args.quick
    result: dict = {"model": {"obs": OBS, "actions": ACTIONS, "hidden": HIDDEN}}
    result["actions"] = bench_actions(20_000 if quick else 200_000)
    print(json.dumps({"actions": result["actions"]}), flush=True)
    result["ingest"] = [bench_ingest(n, 2.0 if quick else 6.0) for n in (1, 4, 16)]
    for row in result["ingest"]:
        print(json.dumps({"ingest": row}), flush=True)
    result["lossless_16"] = bench_lossless(16, 5_000 if quick else 50_000)
    print(json.dumps({"lossless_16": result["lossless_16"]}), flush=True)
    result["version_latency"] = bench_version_latency(3 if quick else 10)
    print(json.dumps({"version_latency": result["version_latency"]}), flush=True)
    result["targets"] = {
        "actions_per_s>=20000": result["actions"]["request_for_action_per_s"] >= 20_000,
        "ingest_steps_per_s>=100000": max(r["steps_per_s"] for r in result["ingest"]) >= 100_000,
        "lost_in_16_client_run==0": result["lossless_16"]["lost"] == 0
        and result["lossless_16"]["client_dropped"] == 0,
    }
    out = write_result("remote", result)
    print(json.dumps({"targets": result["targets"], "written": str(out)}))


if __name__ == "__main__":
    main()
