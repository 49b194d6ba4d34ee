"""Plots and tables from a small synthetic stored result: every file exists and is non-empty."""

from __future__ import annotations

from iroko_gym.bench.plots import FORMATS, PLOTS, draw_all

from .conftest import AGENTS, PATTERNS, write_synthetic_result


def test_every_plot_and_table_from_a_stored_result(tmp_path):
    write_synthetic_result(tmp_path)
    written = draw_all(tmp_path)
    for name in PLOTS:
        for ext in FORMATS:
            path = tmp_path / "plots" / f"{name}.{ext}"
            assert path in written and path.stat().st_size > 1000, path
    rows = (tmp_path / "summary.md").read_text().splitlines()[2:]
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
    assert (tmp_path / "summary.md").read_text().count("\n") == 2
