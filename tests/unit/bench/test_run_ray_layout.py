"""examples/run_ray.py stores its learning curve through the benchmark's ResultStore (no Ray needed)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

from iroko_gym.bench.plots import draw_all
from iroko_gym.bench.storage import COMPLETED, RUNNING, ResultStore

RUN_RAY = Path(__file__).resolve().parents[3] / "examples" / "run_ray.py"


def _run_ray(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_ray", RUN_RAY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_ray", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_learning_curve_lands_in_the_result_layout_and_plots(tmp_path, monkeypatch):
    run_ray = _run_ray(monkeypatch)
    cfg = run_ray.parse_args(["--env", "Cache-v0", "--algo", "APPO", "--seed", "2", "--results-dir", str(tmp_path)])
    curve = run_ray.LearningCurve(cfg, "Cache-v0", "-")
    store = ResultStore(cfg.run_dir)
    for i, ret in enumerate((math.nan, 1.5, 2.5), start=1):
        curve.add({"step": 64 * i, "return_mean": ret, "seed": 2, "agent": "APPO", "iteration": i, "time_s": float(i),
                   "env_steps_per_s": 64.0, "env": "Cache-v0"})
        assert store.status(store.training_dir("APPO-seed2")) == RUNNING
    curve.finish()
    assert store.status(store.training_dir("APPO-seed2")) == COMPLETED
    learning = store.learning()
    assert learning["env_steps"].tolist() == [128, 192] and learning["return"].tolist() == [1.5, 2.5]
    assert learning["seed"].tolist() == [2, 2] and set(learning["topo"]) == {"Cache-v0"}
    assert cfg.run_dir / "plots" / "learning_curve.png" in draw_all(cfg.run_dir)
