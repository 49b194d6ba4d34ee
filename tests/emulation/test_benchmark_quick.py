"""``benchmark.py run --quick`` end to end on the real emulated network (what CI runs).

Runs the preset as a subprocess into tmp_path, then checks what a user gets: every plot (PNG and
PDF) exists and is non-empty, the summary table has a row per agent, every run completed, and
``--resume`` on the finished grid runs nothing.  About 2-3 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iroko_gym.bench.plots import FORMATS, PLOTS

pytestmark = [pytest.mark.emulation, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
AGENTS = ("tcp", "max", "fair", "random", "aimd", "ppo")


def _bench(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "benchmark.py"), *args], cwd=REPO, capture_output=True, check=False,
                          text=True, timeout=timeout)


def test_quick_preset_writes_every_plot_and_a_row_per_agent(tmp_path):
    out = tmp_path / "quick"
    proc = _bench("run", "--quick", "--out", str(out), timeout=840)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "grid [" in proc.stderr  # progress bar with ETA
    for name in PLOTS:
        for ext in FORMATS:
            path = out / "plots" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    rows = (out / "summary.md").read_text().splitlines()[2:]
    for agent in AGENTS:
        assert any(row.startswith(f"| {agent} |") for row in rows), f"no row for {agent}"
    statuses = {p.parent.name: json.loads(p.read_text())["status"] for p in (out / "runs").glob("*/run.json")}
    assert statuses and set(statuses.values()) == {"completed"}, statuses
    assert (out / "training" / "ppo__dumbbell__tcp__s0" / "model.pt").is_file()
    _stored_slowdown_is_the_envs(out)

    again = _bench("run", "--quick", "--resume", "--no-plot", "--out", str(out), timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 completed, 0 failed" in again.stdout


def _stored_slowdown_is_the_envs(out: Path) -> None:
    """The per-flow rows in flows.parquet are the env's own: their slowdown percentiles are the
    ones of info["flows"] that run.json stored for the same episode (one definition of slowdown)."""
    import numpy as np
    import pandas as pd

    compared = 0
    for run in (out / "runs").iterdir():
        flows = pd.read_parquet(run / "flows.parquet")
        for ep in json.loads((run / "run.json").read_text())["episodes"]:
            slow = flows[(flows["episode"] == ep["episode"]) & np.isfinite(flows["slowdown"])]["slowdown"].to_numpy()
            summary = ep["flows"]
            assert ("slowdown_p99" in summary) == (slow.size > 0), run.name
            if slow.size:
                assert summary["slowdown_p99"] == pytest.approx(np.percentile(slow, 99), rel=1e-12), run.name
                assert summary["slowdown_mean"] == pytest.approx(slow.mean(), rel=1e-12), run.name
                compared += 1
    assert compared > 0  # the quick preset's web-search flows complete within the episodes
