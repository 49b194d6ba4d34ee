"""The helpers every performance script shares (perf/_common.py), without root: the fake network."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.dc.fake import FakeNetwork
from perf._common import percentiles, step_overhead, write_result


def test_percentiles_by_name():
    values = list(range(101))
    assert percentiles(values, "p50", "p99", "max", "mean", "min") == {"p50": 50.0, "p99": 99.0, "max": 100.0,
                                                                        "mean": 50.0, "min": 0.0}
    with pytest.raises(ValueError, match="'median'"):
        percentiles(values, "median")


def test_step_overhead_steps_every_step_and_closes_the_env():
    built: list[FakeNetwork] = []

    def factory(topology, config):
        built.append(FakeNetwork(topology, config, traffic_steps=None))
        return built[-1]

    env = gym.make("dc-iroko-v0", network_factory=factory, max_steps=20)
    result = step_overhead(env, 12)
    assert result["steps"] == 12 and result["step_interval_ms"] == env.unwrapped.config.step_interval_ms
    assert set(result["step_overhead_ms"]) == set(result["apply_latency_ms"]) == {"p50", "p99", "max"}
    assert len(built) == 1 and built[0].closed
    assert not built[0].output_dir.exists()  # the fake leaves nothing in the temp directory


def test_write_result_is_atomic_and_records_the_machine(tmp_path):
    out = write_result("x", {"figure": 1.5}, tmp_path / "deep" / "x.json")
    data = json.loads(out.read_text())
    assert data["figure"] == 1.5 and "kernel" in data["machine"] and "numpy" in data["versions"]
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]
