"""The grid's ETA weighs every job by its env steps, so a long training job does not skew it."""

from __future__ import annotations

import io

import pytest

from iroko_gym.bench import progress as progress_mod
from iroko_gym.bench.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress_mod.time, "monotonic", c)
    return c


def _eta_s(bar) -> int:
    h, m, s = bar.render().split("<")[1].split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


def test_eta_after_a_training_job_counts_the_remaining_steps_not_runs(clock):
    """Quick-preset shape: 2 trainings of 160 steps and 24 runs of 40 steps, 0.125 s per step."""
    p = Progress([160, 160] + [40] * 24, stream=io.StringIO())
    p.start_run("train s0", 160)
    for i in range(1, 161):
        clock.now = i / 8  # 0.125 s per step, exact in binary
        p.step()
    p.finish_run("completed")
    # 20 s for 160 of 1280 steps: 1120 steps left at 0.125 s = 140 s (counting runs: 25 x 20 s = 500 s)
    assert _eta_s(p.grid) == 140
    assert "1/26 runs" in p.grid.render()


def test_a_run_that_fails_early_counts_its_whole_weight(clock):
    p = Progress([100, 100], stream=io.StringIO())
    p.start_run("a", 100)
    clock.now += 1.0
    p.step(10)
    p.finish_run("failed")
    assert p.grid.done == 100 and p.grid.jobs_done == 1
    p.start_run("b", 100)
    p.step(100)
    p.finish_run("completed")
    assert p.grid.done == p.grid.total == 200 and "2/2 runs" in p.grid.render()


def test_eta_is_unknown_before_the_first_step(clock):
    p = Progress([5, 5], stream=io.StringIO())
    assert "<?" in p.grid.render()
