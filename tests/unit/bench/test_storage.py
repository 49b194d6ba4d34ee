"""Storage round trip, failure recording and --resume on the fake network (no root)."""

from __future__ import annotations

import io
import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

from iroko_gym.bench.config import BenchConfig
from iroko_gym.bench.runner import Terminated, run_grid
from iroko_gym.bench.storage import COMPLETED, FAILED, ResultStore, write_json, write_parquet
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.errors import ConfigError, EmulationError


def test_parquet_and_json_round_trip_leave_no_temp_files(tmp_path):
    frame = pd.DataFrame({"step": [1, 2], "action": [[0.5, 1.0], [0.25, 0.75]]})
    write_parquet(tmp_path / "a" / "steps.parquet", frame)
    write_json(tmp_path / "a" / "run.json", {"x": np.float32(1.5), "arr": np.arange(2)})
    back = pd.read_parquet(tmp_path / "a" / "steps.parquet")
    assert back["action"].map(list).tolist() == [[0.5, 1.0], [0.25, 0.75]]
    assert json.loads((tmp_path / "a" / "run.json").read_text()) == {"x": 1.5, "arr": [0, 1]}
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["run.json", "steps.parquet"]


def _grid(tmp_path, **kw) -> BenchConfig:
    return BenchConfig(out=str(tmp_path / "res"), agents=("tcp", "fair", "aimd"), patterns=("incast",), seeds=1,
                       episodes=2, steps=5, workload="long", plot=False, **kw)


def test_grid_on_fake_network_stores_every_run(tmp_path, fake_factory):
    cfg = _grid(tmp_path)
    counts = run_grid(cfg, fake_factory, stream=io.StringIO())
    assert counts == {"completed": 3, "failed": 0, "skipped": 0}
    store = ResultStore(cfg.out)
    metas = store.runs()
    assert [m["spec"]["agent"] for m in metas] == ["aimd", "fair", "tcp"]
    meta = metas[0]
    assert meta["status"] == COMPLETED and len(meta["episodes"]) == 2
    assert {"python", "numpy"} <= set(meta["versions"]) and "kernel" in meta["host"]
    assert meta["env_config"]["max_steps"] == 5 and meta["layout"]["action"] == ["h1", "h2", "h3", "h4"]
    steps = store.steps()
    assert len(steps) == 3 * 2 * 5
    assert {"reward", "action", "applied_rates_bps", "port_backlog_bytes", "port_drops", "host_tx_bps"} <= set(steps.columns)
    assert len(steps["port_backlog_bytes"].iloc[0]) == 6 and len(steps["action"].iloc[0]) == 4
    assert store.read_config()["agents"] == ["tcp", "fair", "aimd"]


def test_failed_run_is_recorded_and_resume_reruns_only_it(tmp_path):
    def flaky(topology, config):
        if not config.rate_control:
            raise EmulationError("boom: tcp env broken")
        return FakeNetwork(topology, config)

    cfg = _grid(tmp_path)
    counts = run_grid(cfg, flaky, stream=io.StringIO())
    assert counts == {"completed": 2, "failed": 1, "skipped": 0}
    store = ResultStore(cfg.out)
    failed = store.runs(status=FAILED)
    assert [m["spec"]["agent"] for m in failed] == ["tcp"]
    assert "boom: tcp env broken" in failed[0]["error"] and "Traceback" in failed[0]["traceback"]
    fair_json = store.run_dir("fair__dumbbell__incast__tcp__s0") / "run.json"
    before = fair_json.stat().st_mtime_ns

    counts = run_grid(BenchConfig(**{**cfg.__dict__, "resume": True}), lambda t, c: FakeNetwork(t, c), stream=io.StringIO())
    assert counts == {"completed": 1, "failed": 0, "skipped": 2}
    assert fair_json.stat().st_mtime_ns == before
    assert len(store.runs()) == 3


def test_without_resume_everything_reruns(tmp_path, fake_factory):
    cfg = _grid(tmp_path)
    run_grid(cfg, fake_factory, stream=io.StringIO())
    assert run_grid(cfg, fake_factory, stream=io.StringIO())["skipped"] == 0


def test_ppo_run_without_model_fails_cleanly(tmp_path, fake_factory):
    cfg = BenchConfig(**{**_grid(tmp_path).__dict__, "agents": ("ppo",), "load_model": str(tmp_path / "missing.pt")})
    assert run_grid(cfg, fake_factory, stream=io.StringIO())["failed"] == 1
    (meta,) = ResultStore(cfg.out).runs(status=FAILED)
    assert "cannot load PPO model" in meta["error"]


@pytest.mark.parametrize("status", ["running", None])
def test_incomplete_runs_are_not_complete(tmp_path, status):
    store = ResultStore(tmp_path)
    d = store.run_dir("x")
    if status:
        write_json(d / "run.json", {"status": status})
    assert not store.is_complete(d)


def test_sigterm_records_the_run_as_failed_and_stops_the_grid(tmp_path):
    def killed(topology, config):
        os.kill(os.getpid(), signal.SIGTERM)
        return FakeNetwork(topology, config)

    cfg = _grid(tmp_path)
    with pytest.raises(Terminated):
        run_grid(cfg, killed, stream=io.StringIO())
    (meta,) = ResultStore(cfg.out).runs(status=None)
    assert meta["status"] == FAILED and meta["error"] == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is not None


@pytest.mark.faults
def test_resume_with_another_grid_config_is_refused_naming_the_fields(tmp_path, fake_factory):
    cfg = _grid(tmp_path)
    run_grid(cfg, fake_factory, stream=io.StringIO())
    store = ResultStore(cfg.out)
    stored = (store.root / "config.json").read_text()
    runs_before = sorted(p.name for p in (store.root / "runs").iterdir())

    changed = BenchConfig(**{**cfg.__dict__, "resume": True, "agents": ("tcp", "fair"), "seeds": 2, "steps": 6})
    with pytest.raises(ConfigError) as err:
        run_grid(changed, fake_factory, stream=io.StringIO())
    message = str(err.value)
    assert "--agents (stored ['tcp', 'fair', 'aimd'], now ['tcp', 'fair'])" in message
    assert "--seeds (stored 1, now 2)" in message and "--steps (stored 5, now 6)" in message
    assert "--episodes" not in message and "--plot" not in message
    assert (store.root / "config.json").read_text() == stored  # nothing run, nothing rewritten
    assert sorted(p.name for p in (store.root / "runs").iterdir()) == runs_before


@pytest.mark.faults
def test_resume_refuses_a_config_of_an_older_layout_and_an_unreadable_one(tmp_path, fake_factory):
    cfg = _grid(tmp_path, resume=True)
    old = {k: v for k, v in cfg.as_dict().items() if k != "ppo_rollout_steps"} | {"ppo_rollout": 100}
    write_json(tmp_path / "res" / "config.json", old)
    with pytest.raises(ConfigError, match=r"ppo_rollout \(stored 100; no such field now\).*--ppo-rollout-steps \(not stored"):
        run_grid(cfg, fake_factory, stream=io.StringIO())
    (tmp_path / "res" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read .*config.json"):
        run_grid(cfg, fake_factory, stream=io.StringIO())


def test_resume_may_change_plotting_and_quick_and_a_fresh_directory_resumes(tmp_path, fake_factory):
    cfg = _grid(tmp_path)
    run_grid(cfg, fake_factory, stream=io.StringIO())
    again = BenchConfig(**{**cfg.__dict__, "resume": True, "plot": True})  # run_grid itself never plots
    assert run_grid(again, fake_factory, stream=io.StringIO())["skipped"] == 3
    fresh = _grid(tmp_path / "new", resume=True)
    assert run_grid(fresh, fake_factory, stream=io.StringIO())["completed"] == 3
