"""Plots and tables from a small synthetic stored result: every file exists and is non-empty."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from iroko_gym.bench.plots import FORMATS, PLOTS, caption, draw_all

from .conftest import AGENTS, PATTERNS, write_synthetic_result

REPO = Path(__file__).resolve().parents[3]


def test_every_plot_and_table_from_a_stored_result(tmp_path):
    write_synthetic_result(tmp_path)
    written = draw_all(tmp_path)
    for name in PLOTS:
        for ext in FORMATS:
            path = tmp_path / "plots" / f"{name}.{ext}"
            assert path in written and path.stat().st_size > 1000, path
    rows = (tmp_path / "summary.md").read_text().splitlines()[4:]
    assert len(rows) == len(AGENTS) * len(PATTERNS)
    for agent in AGENTS:
        assert any(r.startswith(f"| {agent} |") for r in rows)
    assert "held-out" in (tmp_path / "summary.md").read_text()
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert len(csv) == 1 + len(AGENTS) * len(PATTERNS) and "utilisation_ci" in csv[0]


def test_plots_of_an_empty_result_still_exist(tmp_path):
    (tmp_path / "runs").mkdir()
    draw_all(tmp_path)
    assert all((tmp_path / "plots" / f"{name}.png").stat().st_size > 0 for name in PLOTS)
    assert (tmp_path / "summary.md").read_text().count("\n") == 4


def test_importing_the_suite_changes_no_global_state():
    """No backend chosen, no pyplot, no torch thread count set at import time (only when drawing/training)."""
    probe = textwrap.dedent("""
        import sys, matplotlib, torch
        backend, threads = matplotlib.rcParams._get_backend_or_none(), torch.get_num_threads()
        import iroko_gym.bench.cli, iroko_gym.bench.plots, iroko_gym.bench.ppo, iroko_gym.bench.runner
        assert matplotlib.rcParams._get_backend_or_none() == backend, matplotlib.rcParams._get_backend_or_none()
        assert "matplotlib.pyplot" not in sys.modules
        assert torch.get_num_threads() == threads
    """)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_drawing_leaves_pyplot_alone(tmp_path):
    write_synthetic_result(tmp_path, seeds=1, steps=3)
    draw_all(tmp_path)
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


def test_the_caption_names_what_ppo_saw_and_was_rewarded_by():
    grid = {"topo": ["dumbbell"], "agents": ["tcp", "ppo"], "ppo_steps": 15000, "train_patterns": ["incast", "stride"]}
    assert "PPO local control, host reward, 15000 steps on incast,stride" in caption(
        {**grid, "ppo_control": "local", "ppo_reward": "host"})
    assert "PPO central control, env reward" in caption(grid)  # stored before either choice existed
    assert "PPO" not in caption({**grid, "agents": ["tcp"]})
