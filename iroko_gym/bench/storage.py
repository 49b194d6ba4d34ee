"""Result directory layout, atomic writes, and reading stored results back.

::

    <out>/config.json                   the BenchConfig of the grid
    <out>/runs/<run_id>/run.json        spec, status (running|completed|failed), error, timings,
                                        versions, host facts, env config, layout, episode summaries
    <out>/runs/<run_id>/steps.parquet   one row per step
    <out>/runs/<run_id>/flows.parquet   one row per flow
    <out>/training/<model_id>/...       a trained agent: run.json, learning.parquet (env_steps, return,
                                        ...), and for the suite's PPO model.pt; written by the runner
                                        and by examples/run_ray.py through ResultStore
    <out>/plots/, <out>/summary.{md,csv} drawn from the files above only

Every file is written to a temporary name in its directory and renamed into place, so a crash
leaves either the old file or the new one.  ``run.json`` is written last with
``status="completed"``: a run is complete exactly when that says so.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from iroko_gym.atomic import atomic_write, atomic_write_text
from iroko_gym.errors import ConfigError

COMPLETED, FAILED, RUNNING = "completed", "failed", "running"


def write_json(path: Path, data: Any) -> Path:
    text = json.dumps(data, indent=1, default=_plain)
    return atomic_write_text(path, text + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and paths in JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def versions() -> dict[str, str]:
    """Versions of the packages a result depends on (absent ones are skipped)."""
    out = {"python": platform.python_version()}
    for dist in ("iroko_gym", "gymnasium", "numpy", "pandas", "pyarrow", "torch", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def host_facts() -> dict[str, Any]:
    """Machine and kernel facts that change what an emulated network measures."""
    uname = platform.uname()
    facts: dict[str, Any] = {"hostname": socket.gethostname(), "kernel": uname.release, "kernel_version": uname.version,
                             "machine": uname.machine, "cpus": os.cpu_count()}
    try:
        facts["load_avg"] = list(os.getloadavg())
    except OSError:
        pass
    cc = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
    if cc.exists():
        facts["tcp_congestion_controls"] = cc.read_text().split()
    return facts


class ResultStore:
    """One result directory: where each run's files live and which runs are complete."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def training_dir(self, model_id: str) -> Path:
        return self.root / "training" / model_id

    def status(self, directory: Path) -> str | None:
        """``status`` of ``directory/run.json``, or None if there is none (never started)."""
        path = directory / "run.json"
        if not path.exists():
            return None
        try:
            return str(read_json(path).get("status"))
        except (json.JSONDecodeError, OSError):
            return None

    def is_complete(self, directory: Path, files: tuple[str, ...] = ("steps.parquet", "flows.parquet")) -> bool:
        return self.status(directory) == COMPLETED and all((directory / f).exists() for f in files)

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.root / "config.json", config)

    def read_config(self) -> dict[str, Any]:
        return read_json(self.root / "config.json")

    def stored_config(self) -> dict[str, Any] | None:
        """The stored grid config, or None if there is none yet; an unreadable one is a ConfigError."""
        path = self.root / "config.json"
        if not path.exists():
            return None
        try:
            config = read_json(path)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; move it away or choose a new result directory") from exc
        if not isinstance(config, dict):
            raise ConfigError(f"{path} is not a JSON object: move it away or choose a new result directory")
        return config

    def runs(self, status: str | None = COMPLETED) -> list[dict[str, Any]]:
        """``run.json`` of every run (with ``status``), sorted by run id."""
        out = []
        for path in sorted((self.root / "runs").glob("*/run.json")):
            meta = read_json(path)
            if status is None or meta.get("status") == status:
                out.append(meta)
        return out

    def _concat(self, kind: str, name: str, runs: list[dict[str, Any]]) -> pd.DataFrame:
        frames = []
        for meta in runs:
            path = self.root / kind / meta["spec"]["run_id" if kind == "runs" else "model_id"] / name
            frame = pd.read_parquet(path)
            for key in ("agent", "topo", "pattern", "transport", "seed", "held_out"):
                if key in meta["spec"]:
                    frame[key] = meta["spec"][key]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def steps(self) -> pd.DataFrame:
        """Steps of every completed run, with the run's spec columns added."""
        return self._concat("runs", "steps.parquet", self.runs())

    def flows(self) -> pd.DataFrame:
        """Flows of every completed run, with the run's spec columns added."""
        return self._concat("runs", "flows.parquet", self.runs())

    def write_learning(self, model_id: str, curve: pd.DataFrame) -> Path:
        """Store the learning curve of a training job (needs ``env_steps`` and ``return`` columns)."""
        missing = {"env_steps", "return"} - set(curve.columns)
        if missing:
            raise ConfigError(f"learning curve of {model_id!r} lacks columns {sorted(missing)}")
        return write_parquet(self.training_dir(model_id) / "learning.parquet", curve)

    def write_training_meta(self, model_id: str, meta: dict[str, Any]) -> Path:
        """Store ``run.json`` of a training job (``status`` and ``spec`` with topo, transport, seed)."""
        return write_json(self.training_dir(model_id) / "run.json", meta)

    def learning(self) -> pd.DataFrame:
        """Learning curves (one row per training episode) of every completed PPO training."""
        done = []
        for path in sorted((self.root / "training").glob("*/run.json")):
            meta = read_json(path)
            if meta.get("status") == COMPLETED:
                done.append(meta)
        return self._concat("training", "learning.parquet", done)
