"""Where a DCEnv step's overhead goes: each part of ``step()`` timed, on the 1 Gbit/s dumbbell (root needed).

The parts after the interval's deadline make the overhead ``perf.dc_env`` reports: waking at the
deadline, the closing netlink reads and snapshot, the observation, the reward, the traffic poll
and the info dict; what is left is the action check and the wrappers.  ``--warm-up-ms`` sets the
env's ``warm_up_ms`` (its rehearsal, before the deadline, is timed too).  ``--pin`` runs the env's
process (and the traffic manager) on CPU 0 and every process in the emulated hosts (goben) on the
other CPUs, to see how much of the p99 is the traffic competing for the env's core.  Prints p50 /
p99 / max of each part and writes perf/out/dc_step_parts[_pinned][_warm].json.

    sudo -E .venv/bin/python -m perf.dc_step_parts [--interval-ms 10] [--steps 500] [--pin] [--warm-up-ms 1]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from perf._common import percentiles, write_result
from perf.dc_env import TARGETS, fast_dumbbell

#: Means add up (the overhead's mean is the parts' plus the rest); medians of skewed parts do not.
STATS = ("mean", "p50", "p99", "max")
PARTS = ("rehearsal", "wake_late", "close_window", "observation", "reward", "traffic_poll", "info")


def _timed(record: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record.append((time.perf_counter() - t0) * 1e3)
    return run


def _pin_hosts(env: Any, cpus: set[int]) -> None:
    """Move every thread of every process started in the emulated hosts to ``cpus``."""
    for proc in env._network._backend._procs:
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except ProcessLookupError:  # a thread that ended meanwhile
                pass


def measure(interval_ms: float, steps: int, pin: bool, warm_up_ms: float) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    if pin:
        if len(cpus) < 2:
            raise SystemExit(f"--pin needs two CPUs or more; this process may run on {cpus}")
        os.sched_setaffinity(0, {cpus[0]})  # the traffic manager, started at make(), inherits it
    env = fast_dumbbell(interval_ms, steps, warm_up_ms)
    dc = env.unwrapped
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    overhead: list[float] = []
    try:
        env.reset(seed=0)
        if pin:
            _pin_hosts(dc, set(cpus[1:]))
        net, collector = dc._network, dc._network._collector
        wait = collector.wait_until
        late = [0.0]  # of the step's last wait (with warm_up_ms the first one ends before the deadline)

        def wait_until(deadline: float, busy: bool = False) -> None:
            wait(deadline, busy)
            late[0] = (time.monotonic() - deadline) * 1e3

        collector.wait_until = wait_until
        dc._rehearse = _timed(times["rehearsal"], dc._rehearse)
        net.close_window = _timed(times["close_window"], net.close_window)
        net.traffic_running = _timed(times["traffic_poll"], net.traffic_running)
        dc._obs_builder.build = _timed(times["observation"], dc._obs_builder.build)
        dc._reward_fn = _timed(times["reward"], dc._reward_fn)
        dc._step_info = _timed(times["info"], dc._step_info)
        rng = np.random.default_rng(0)
        for _ in range(steps):
            action = rng.uniform(0.05, 1.0, size=env.action_space.shape).astype(np.float32)
            t0 = time.perf_counter()
            env.step(action)
            overhead.append((time.perf_counter() - t0) * 1e3 - interval_ms)
            times["wake_late"].append(late[0])
    finally:
        env.close()
    return {"step_interval_ms": interval_ms, "steps": steps, "pinned": pin, "warm_up_ms": warm_up_ms, "load_avg_1m": os.getloadavg()[0],
            "step_overhead_ms": percentiles(overhead, *STATS),
            "parts_ms": {part: percentiles(v, *STATS) for part, v in times.items() if v}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--interval-ms", type=float, default=10.0, help="step interval (ms)")
    p.add_argument("--steps", type=int, default=500, help="steps timed")
    p.add_argument("--pin", action="store_true", help="env on CPU 0, the emulated hosts' processes on the others")
    p.add_argument("--warm-up-ms", type=float, default=0.0, help="the env's warm_up_ms (0: off)")
    ns = p.parse_args()
    result = measure(ns.interval_ms, ns.steps, ns.pin, ns.warm_up_ms)
    print(f"{ns.interval_ms:g} ms steps, warm_up_ms {ns.warm_up_ms:g}{', pinned' if ns.pin else ''}, "
          f"load average {result['load_avg_1m']:.2f}:")
    rows = [("overhead", result["step_overhead_ms"]), *result["parts_ms"].items()]
    for name, v in rows:
        print(f"  {name:13s} " + "  ".join(f"{stat} {v[stat]:6.2f}" for stat in STATS) + " ms")
    print(f"  (targets: overhead p50 <= {TARGETS['fast_step_overhead_p50_ms']} ms, p99 <= {TARGETS['fast_step_overhead_p99_ms']} ms)")
    name = "dc_step_parts" + ("_pinned" if ns.pin else "") + ("_warm" if ns.warm_up_ms else "")
    print(f"wrote {write_result(name, result)}")


if __name__ == "__main__":
    main()
