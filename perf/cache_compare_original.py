"""Run the original gym-cache 1.0.3 in its own venv: record a reference fixture and its speed.

    .venv/bin/python -m perf.cache_compare_original [--venv /tmp/gymcache-ref] [--steps 20000]

1. Creates the reference venv if missing (gym-cache==1.0.3, gym, pandas<2, numpy<2, pyarrow<15).
2. Replays a small fixed trace with a fixed action sequence through the original ``CacheEnv`` and
   writes ``tests/unit/cache/fixtures/original_1.0.3.json`` (trace rows, cache size, actions,
   observations, rewards, done flags), which ``tests/unit/cache/test_reference.py`` replays on ours.
3. Times the original's ``step`` on the bundled default trace (constant action 1) and writes
   ``perf/out/cache_compare_original.json`` for ``perf/cache_env.py`` to compare against.

The original is driven the only way it works: from a scratch working directory holding
``data.pa`` and ``results/`` (its paths are cwd-relative), one ``reset()`` per env object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from iroko_gym.cache.pipeline import process_log
from iroko_gym.cache.synthetic import SyntheticConfig, generate_log
from iroko_gym.atomic import atomic_write_text
from iroko_gym.cache.trace import Trace, load_trace
from perf._common import write_result

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "unit" / "cache" / "fixtures" / "original_1.0.3.json"
REFERENCE_PACKAGES = ["gym-cache==1.0.3", "gym", "pandas<2", "numpy<2", "pyarrow<15"]

DRIVER = r"""
import json, sys, time, contextlib, io
import numpy as np
from gym_cache.envs.cache_env import CacheEnv
spec = json.load(open(sys.argv[1]))
with contextlib.redirect_stdout(io.StringIO()):
    env = CacheEnv(InputData="data", CacheSize=spec["cache_size_kb"])
    obs = env.reset()
out = {"reset_obs": [int(x) for x in obs], "obs": [], "rewards": [], "done": []}
began = time.perf_counter()
for a in spec["actions"]:
    with contextlib.redirect_stdout(io.StringIO()):
        obs, reward, done, _ = env.step(a)
    if spec["record"]:
        out["obs"].append([int(x) for x in obs]); out["rewards"].append(int(reward)); out["done"].append(bool(done))
out["seconds"] = time.perf_counter() - began
json.dump(out, sys.stdout)
"""


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REFERENCE_PACKAGES], check=True)
    return python


def run_original(python: Path, trace: Trace, cache_size_kb: int, actions: list[int], record: bool) -> dict:
    """One episode of the original on ``trace``; returns its observations/rewards and wall time."""
    with tempfile.TemporaryDirectory(prefix="gymcache-ref-") as scratch:
        work = Path(scratch)
        (work / "results").mkdir()
        trace.to_frame().to_parquet(work / "data.pa")
        spec = work / "spec.json"
        spec.write_text(json.dumps({"cache_size_kb": cache_size_kb, "actions": actions, "record": record}))
        proc = subprocess.run(
            [str(python), "-c", DRIVER, str(spec)], cwd=work, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(f"original gym-cache failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout)


def fixture_trace() -> Trace:
    """80 accesses over a few datasets: enough re-use and size spread to hit both watermarks."""
    trace, _ = process_log(generate_log(SyntheticConfig(accesses=80, datasets=8, files_per_dataset=4, seed=7)))
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/gymcache-ref"))
    parser.add_argument("--steps", type=int, default=20000, help="steps timed on the default trace")
    args = parser.parse_args()
    python = ensure_venv(args.venv)

    trace = fixture_trace()
    unique_kb = int(trace.kb[np.unique(trace.fid, return_index=True)[1]].sum())
    cache_kb = unique_kb // 4
    actions = np.random.default_rng(7).integers(0, 2, size=len(trace) - 1).tolist()
    ref = run_original(python, trace, cache_kb, actions, record=True)
    atomic_write_text(
        FIXTURE,
        json.dumps(
            {
                "source": "gym-cache==1.0.3 CacheEnv, produced by perf/cache_compare_original.py",
                "cache_size_kb": cache_kb,
                "trace": trace.to_frame().reset_index().to_dict(orient="list"),
                "actions": actions,
                "reset_obs": ref["reset_obs"],
                "obs": ref["obs"],
                "rewards": ref["rewards"],
                "done": ref["done"],
            }
        )
    )
    print(f"fixture: {FIXTURE} ({len(actions)} steps, cache {cache_kb} kB)")

    default = load_trace()
    steps = min(args.steps, len(default) - 1)
    timed = run_original(python, default, 10 * 1024**3, [1] * steps, record=False)
    rate = steps / timed["seconds"]
    out = write_result("cache_compare_original", {"original_steps_per_s": rate, "steps": steps, "trace": "bundled default"})
    print(f"original gym-cache 1.0.3: {rate:,.0f} steps/s over {steps} steps of the default trace ({out})")


if __name__ == "__main__":
    main()
