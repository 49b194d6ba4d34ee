"""Progress bars with ETA on stderr: one for the grid, one for the current run.

A tiny replacement for tqdm (no extra dependency): one status line redrawn in place on a
terminal; otherwise one line every few seconds (CI logs stay short).

The grid's ETA counts env steps, not runs: a PPO training job of 15,000 steps weighs as much as
fifty 300-step evaluation runs (counting runs, the quick preset's first training job made a
2.5-minute grid look like 14 minutes).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Bar:
    """Counts ``done`` out of ``total`` and renders ``label [####....] 12/40 00:10<00:25``."""

    def __init__(self, label: str, total: int, width: int = 24) -> None:
        self.label, self.total, self.width = label, max(total, 1), width
        self.done = 0
        self.started = time.monotonic()

    def render(self) -> str:
        frac = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta_text = "?" if math.isnan(eta) else _clock(eta)
        fill = int(frac * self.width)
        return f"{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {_clock(elapsed)}<{eta_text}"


class GridBar(Bar):
    """The whole grid: ``done``/``total`` count env steps (the ETA), the label counts jobs."""

    def __init__(self, job_steps: Sequence[int], width: int = 24) -> None:
        super().__init__("grid", sum(max(int(n), 1) for n in job_steps), width)
        self.jobs, self.jobs_done = len(job_steps), 0

    def render(self) -> str:
        return super().render() + f" steps, {self.jobs_done}/{self.jobs} runs"


class Progress:
    """The grid bar and the bar of the run in progress, drawn together.

    ``job_steps`` holds the env steps of every job of the grid, in any order (training jobs
    their ``ppo_steps``, evaluation runs ``episodes x steps``).
    """

    def __init__(self, job_steps: Sequence[int], stream: TextIO = sys.stderr, plain_every_s: float = 5.0) -> None:
        self.grid = GridBar(job_steps)
        self.run: Bar | None = None
        self.stream = stream
        self.tty = stream.isatty()
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._run_base = 0

    def start_run(self, label: str, total_steps: int) -> None:
        self.run = Bar(label, total_steps)
        self._run_base = self.grid.done
        self._draw(force=True)

    def step(self, n: int = 1) -> None:
        if self.run is not None:
            self.run.done += n
            self.grid.done += n
        self._draw()

    def finish_run(self, note: str = "") -> None:
        if self.run is not None:  # a run that stopped early (failed) still counts its whole weight
            self.grid.done = self._run_base + self.run.total
        self.grid.jobs_done += 1
        label = self.run.label if self.run else ""
        self.run = None
        self._clear()
        self.stream.write(f"{label}: {note}\n")
        self._draw(force=True)

    def close(self) -> None:
        self._clear()
        self.stream.write(self.grid.render() + "\n")
        self.stream.flush()

    def _lines(self) -> list[str]:
        return [self.grid.render()] + ([self.run.render()] if self.run else [])

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\x1b[2K\r")

    def _draw(self, force: bool = False) -> None:
        if self.tty:
            self.stream.write("\x1b[2K\r" + " | ".join(self._lines()))
        elif force or time.monotonic() - self._last_plain >= self.plain_every_s:
            self._last_plain = time.monotonic()
            self.stream.write(" | ".join(self._lines()) + "\n")
        self.stream.flush()
