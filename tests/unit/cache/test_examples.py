"""The cache examples run end to end with a tiny step budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_cache_agent_example_runs_and_reports_both_agents() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "cache_agent.py"), "--length", "300"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "dataset-popularity" in proc.stdout and "always-keep (LRU)" in proc.stdout
