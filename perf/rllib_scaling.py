"""Env steps/s that Ray RLlib collects with 1 vs 2 env runners, on the emulated dumbbell and on Cache-v0.

    sudo -E .venv/bin/python -m perf.rllib_scaling [--dc-steps 100] [--cache-steps 4000] [--runners 1 2]

For every (env, number of env runners) a PPO algorithm is built (new API stack, local Ray), warmed
up with one ``train()`` (the DC networks come up), then measured two ways:

* sampling: every env runner samples ``--*-steps`` env steps in parallel (``EnvRunner.sample``);
  steps collected / wall time.  This is the collection rate the issue asks for.
* training: ``--train-iterations`` ``Algorithm.train()`` calls (sampling + the PPO update in the
  driver, which competes for the same 2 cores); env steps sampled / wall time.  Each runner
  contributes a rollout fragment of 64 (DC) or 500 (Cache) steps per iteration.

The DC env runs with ``step_interval_ms=50``: one env can make at most 20 steps/s, so the ideal for
N runners is 20*N.  The DC part needs root (it is skipped with a note otherwise).  Prints the
figures and writes perf/out/rllib_scaling.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import ray
from ray.rllib.algorithms.ppo import PPOConfig

from iroko_gym import rllib as iroko_rllib
from perf._common import write_result

DC_STEP_INTERVAL_MS = 50.0


def _env_config(env_id: str, out_dir: Path) -> dict[str, Any]:
    if env_id == "dc-iroko-v0":
        return {"topology": "dumbbell", "step_interval_ms": DC_STEP_INTERVAL_MS, "max_steps": 200,
                "output_dir": str(out_dir / "envs")}
    return {"length": 5000}


def _sample(algo: Any, steps_per_runner: int) -> int:
    """All remote env runners sample ``steps_per_runner`` env steps in parallel; returns the total."""
    counts = algo.env_runner_group.foreach_env_runner(
        lambda runner: sum(len(e) for e in runner.sample(num_timesteps=steps_per_runner, random_actions=False)),
        local_env_runner=False,
    )
    return int(sum(counts))


def measure(env_id: str, runners: int, steps_per_runner: int, train_iterations: int, out_dir: Path) -> dict[str, Any]:
    """Sampling and training env steps/s of PPO with ``runners`` env runners on ``env_id``."""
    fragment = min(steps_per_runner, 64 if iroko_rllib.is_dc(env_id) else 500)
    config = (
        PPOConfig()
        .environment(env_id, env_config=_env_config(env_id, out_dir))
        .env_runners(num_env_runners=runners, num_cpus_per_env_runner=1, rollout_fragment_length=fragment)
        .learners(num_learners=0)
        .training(train_batch_size_per_learner=fragment * runners, minibatch_size=fragment, num_epochs=1)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        algo.train()  # warm-up: envs built (DC: network up, traffic flowing), module compiled
        t0 = time.monotonic()
        sampled = _sample(algo, steps_per_runner)
        sample_s = time.monotonic() - t0
        before = algo.train()["env_runners"]["num_env_steps_sampled_lifetime"]
        t0 = time.monotonic()
        for _ in range(train_iterations):
            after = algo.train()["env_runners"]["num_env_steps_sampled_lifetime"]
        train_s = time.monotonic() - t0
    finally:
        algo.stop()
    return {
        "env": env_id,
        "num_env_runners": runners,
        "sample_steps": sampled,
        "sample_s": sample_s,
        "sample_steps_per_s": sampled / sample_s,
        "train_iterations": train_iterations,
        "train_steps": int(after - before),
        "train_s": train_s,
        "train_steps_per_s": (after - before) / train_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2], help="env runner counts to compare")
    parser.add_argument("--dc-steps", type=int, default=100, help="env steps each runner samples on the dumbbell")
    parser.add_argument("--cache-steps", type=int, default=4000, help="env steps each runner samples on Cache-v0")
    parser.add_argument("--train-iterations", type=int, default=3, help="timed train() calls per configuration")
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/iroko_gym_rllib_scaling"), help="DC env output dirs")
    args = parser.parse_args()

    envs = {"Cache-v0": args.cache_steps}
    skipped = None
    if os.geteuid() == 0:
        envs = {"dc-iroko-v0": args.dc_steps, **envs}
    else:
        skipped = "dc-iroko-v0 skipped: needs root (sudo -E)"
        print(skipped)
    ray.init(num_cpus=max(args.runners) + 1, include_dashboard=False, object_store_memory=256 * 1024**2)
    rows = []
    try:
        iroko_rllib.register_envs(list(envs))
        for env_id, steps in envs.items():
            for runners in args.runners:
                row = measure(env_id, runners, steps, args.train_iterations, args.out_dir / f"{env_id}-{runners}")
                rows.append(row)
                print(f"{env_id:12s} {runners} runner(s): sampling {row['sample_steps_per_s']:8.1f} env steps/s   "
                      f"train() {row['train_steps_per_s']:8.1f} env steps/s", flush=True)
    finally:
        ray.shutdown()
        iroko_rllib.reap_dead_envs()
    scaling = {}
    for env_id in envs:
        by_n = {r["num_env_runners"]: r for r in rows if r["env"] == env_id}
        if 1 in by_n and 2 in by_n:
            scaling[env_id] = {key: by_n[2][key] / by_n[1][key] for key in ("sample_steps_per_s", "train_steps_per_s")}
            print(f"{env_id}: 2 vs 1 runner(s): sampling x{scaling[env_id]['sample_steps_per_s']:.2f}, "
                  f"train() x{scaling[env_id]['train_steps_per_s']:.2f}")
    out = write_result("rllib_scaling", {
        "ray": ray.__version__,
        "dc_step_interval_ms": DC_STEP_INTERVAL_MS,
        "dc_ideal_steps_per_s_per_env": 1000.0 / DC_STEP_INTERVAL_MS,
        "skipped": skipped,
        "results": rows,
        "scaling_2_vs_1": scaling,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
