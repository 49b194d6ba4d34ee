"""Cache-v0 through Ray RLlib: examples/run_ray.py as a subprocess, one tiny PPO iteration, then resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.rllib", reason="Ray RLlib is the optional extra: ./install.sh --ray (pip install '.[ray]')")
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
RUN_RAY = ROOT / "examples" / "run_ray.py"

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = """
env_config: {length: 50}
env_runners: {rollout_fragment_length: 32}
training: {train_batch_size_per_learner: 64, minibatch_size: 32, num_epochs: 1}
"""


def run_ray(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # always a local Ray here
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(RUN_RAY), *args], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_ppo_one_iteration_then_resume(tmp_path: Path) -> None:
    hyper = tmp_path / "tiny.yaml"
    hyper.write_text(TINY)
    common = ["--algo", "PPO", "--env", "Cache-v0", "--num-env-runners", "1", "--config", str(hyper),
              "--results-dir", str(tmp_path), "--run", "cache"]
    first = run_ray(*common, "--iterations", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    curve_path = tmp_path / "cache" / "learning_curve.parquet"
    curve = pd.read_parquet(curve_path)
    assert {"step", "return_mean", "seed", "agent"} <= set(curve.columns)
    assert curve["step"].tolist() == [64] and curve["agent"].tolist() == ["PPO"]
    assert curve["return_mean"].notna().all()  # 50-access episodes: at least one finished
    assert (tmp_path / "cache" / "checkpoint" / "rllib_checkpoint.json").exists()
    bench = tmp_path / "cache" / "training" / "PPO-seed0"  # the benchmark's result layout
    assert json.loads((bench / "run.json").read_text())["status"] == "completed"
    assert pd.read_parquet(bench / "learning.parquet")["env_steps"].tolist() == [64]

    again = run_ray(*common, "--iterations", "1")
    assert again.returncode == 2 and "--resume" in again.stderr

    resumed = run_ray(*common, "--iterations", "1", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    curve = pd.read_parquet(curve_path)
    assert curve["iteration"].tolist() == [1, 2]
    assert curve["step"].tolist() == [64, 128]  # env step counter restored from the checkpoint

    from iroko_gym.bench.plots import draw_all

    written = draw_all(tmp_path / "cache")  # what `benchmark.py plot <run dir>` does
    assert tmp_path / "cache" / "plots" / "learning_curve.png" in written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "SAC", "--env", "Cache-v0"], "SAC needs continuous"),
        (["--env", "Cache-v0", "--topo", "dumbbell"], "only the DC envs have a topology"),
        (["--algo", "DQN"], "--algo='DQN': must be one of"),
    ],
)
def test_bad_flags_fail_before_ray_starts(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_ray(*args, "--results-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and message in proc.stderr


def test_unknown_hyperparameter_section_and_key_are_named(tmp_path: Path) -> None:
    bad_section = tmp_path / "a.yaml"
    bad_section.write_text("trainig: {lr: 0.1}\n")
    proc = run_ray("--env", "Cache-v0", "--config", str(bad_section), "--results-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "'trainig'" in proc.stderr and "did you mean 'training'" in proc.stderr
    bad_env = tmp_path / "b.json"
    bad_env.write_text('{"env_config": {"lenght": 10}}')
    proc = run_ray("--env", "Cache-v0", "--config", str(bad_env), "--results-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "'lenght'" in proc.stderr
    bad_key = tmp_path / "c.yaml"
    bad_key.write_text("training: {learning_rate: 0.1}\n")
    proc = run_ray("--env", "Cache-v0", "--config", str(bad_key), "--results-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "'training'" in proc.stderr and "learning_rate" in proc.stderr
