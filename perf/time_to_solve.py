"""Time to solve CartPole through the remote service; prints figures, writes perf/out/time_to_solve.json.

    taskset -c 1 .venv/bin/python -m perf.time_to_solve [--runs ppo-lockstep,vtrace-realtime]

Wall seconds and environment steps until the client's mean return over its last 100 episodes
reaches 475 (CartPole-v1's "solved"), for strict PPO, V-trace-corrected PPO and DQN, each with
three clients:

- ``simulator``: unpaced, and it waits for the learner (lock step), as a simulator can;
- ``lockstep``: the real system, paced at ``--rate`` decisions/s, which waits for the learner;
- ``realtime``: the same system at the same pace, which never waits.

``lockstep`` and ``realtime`` are the same system, so their wall times compare waiting with not
waiting. ``simulator`` is another, faster system. The server runs in its own process. For
every run the JSON also holds the share of the client's steps that the learner trained (the
rest was dropped as stale), the load average and where the learner was when the client
stopped (versions, steps trained and still queued, and their rates).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import gymnasium as gym

from perf._common import write_result
from perf.remote import start_server, stop_server

SOLVED = 475.0
PPO = {"rollout_steps": 1024, "learning_rate": 3e-4, "target_kl": None, "hidden_sizes": [64, 64]}
PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "ppo": ("PPO", PPO),
    "vtrace": ("PPO", {**PPO, "correction": "vtrace", "max_staleness": 1000, "target_kl": 0.03}),
    "dqn": ("DQN", {"learning_rate": 5e-4, "tau": 0.005, "minibatch_size": 128}),
}
MODES = ("simulator", "lockstep", "realtime")
RUNS = [f"{name}-{mode}" for name in PARAMS for mode in MODES]


class Paced(gym.Wrapper):
    """Steps at most ``rate`` times per second: the pace of a real system, not a simulator."""

    def __init__(self, env: gym.Env, rate: float) -> None:
        super().__init__(env)
        self.interval = 1.0 / rate
        self.next_time = time.perf_counter()

    def step(self, action: Any) -> Any:
        self.next_time += self.interval
        delay = self.next_time - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            self.next_time = time.perf_counter()  # behind: never catch up in a burst
        return self.env.step(action)


def learner_at_stop(metrics: Any, seconds: float) -> dict[str, Any]:
    """Where the learner was when the client stopped (solved or out of budget): how far
    behind the client, and how fast it went until then."""
    return {"versions_at_stop": metrics.version, "steps_trained_at_stop": metrics.steps_trained,
            "queued_steps_at_stop": metrics.queued,
            "versions_per_s": round(metrics.version / seconds, 2),
            "steps_trained_per_s": round(metrics.steps_trained / seconds)}


def solve(run: str, address: str, budget_steps: int, budget_s: float, rate: float,
          seed: int) -> dict[str, Any]:
    from iroko_gym.remote.client import RemoteAgent
    from iroko_gym.remote.gym_driver import config_for_env, drive, mean_return, wait_for_learner

    name, mode = run.split("-")
    algorithm, params = PARAMS[name]
    env = gym.make("CartPole-v1")
    if mode != "simulator":
        env = Paced(env, rate)
    config = config_for_env(env, client_id=f"{run}-{seed}", algorithm=algorithm,
                            params={**params, "seed": seed}, server_address=address, seed=seed,
                            flush_interval_s=0.05, batch_size=4)
    start = time.perf_counter()
    solved_at: list[float] = []

    def stop(episodes: list) -> bool:
        if len(episodes) >= 100 and mean_return(episodes) >= SOLVED:
            solved_at.append(time.perf_counter() - start)
            return True
        return time.perf_counter() - start > budget_s

    with RemoteAgent(config) as agent:
        episodes = drive(agent, env, budget_steps, seed=seed, lockstep=mode != "realtime",
                         stop=stop)
        at_stop = learner_at_stop(agent.server_metrics(), time.perf_counter() - start)
        wait_for_learner(agent, timeout=300)
        metrics = agent.server_metrics()
        stats = agent.stats()
    env.close()
    steps = episodes[-1].end_step if episodes else 0
    result = {
        "run": run, "algorithm": algorithm, "params": params, "client": mode, "seed": seed,
        "solved": bool(solved_at), "seconds": round(solved_at[0] if solved_at
                                                    else time.perf_counter() - start, 1),
        "env_steps": steps, "episodes": len(episodes),
        "mean_return_last_100": round(mean_return(episodes), 1),
        "steps_received": metrics.steps_received, "steps_trained": metrics.steps_trained,
        "trained_fraction": round(metrics.steps_trained / max(metrics.steps_received, 1), 3),
        "stale_dropped_trajectories": metrics.stale_dropped, "versions": metrics.version,
        "client_dropped": stats.dropped_overflow + stats.dropped_rejected + stats.dropped_at_close,
        "load_average": round(os.getloadavg()[0], 2), **at_stop}
    if mode != "simulator":
        result["rate_decisions_per_s"] = rate
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {RUNS}")
    parser.add_argument("--rate", type=float, default=2500.0,
                        help="decisions/s of the real system (lockstep and realtime clients)")
    parser.add_argument("--budget-steps", type=int, default=400_000)
    parser.add_argument("--budget-s", type=float, default=300.0, help="wall budget per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON path (default perf/out/time_to_solve.json)")
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; known: {RUNS}")

    proc, address = start_server("--torch-threads", "1", "--train-threads", "1")
    results = []
    try:
        for run in runs:
            result = solve(run, address, args.budget_steps, args.budget_s, args.rate, args.seed)
            results.append(result)
            print(f"{run:18s} solved={result['solved']!s:5s} {result['seconds']:7.1f} s "
                  f"{result['env_steps']:7d} steps  mean={result['mean_return_last_100']:6.1f}  "
                  f"trained {100 * result['trained_fraction']:5.1f} %  "
                  f"load {result['load_average']}", flush=True)
    finally:
        stop_server(proc)
    path = write_result("time_to_solve", {"target_mean_return": SOLVED, "runs": results},
                        args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
