"""Bad settings of the live cache's parts raise ConfigError naming the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.xcache.loadgen import LoadGenConfig
from iroko_gym.xcache.redis_server import RedisServer
from iroko_gym.xcache.service import ActorSpec
from iroko_gym.xcache.sidecar import SidecarConfig


@pytest.mark.faults
@pytest.mark.parametrize("change, words", [
    ({"capacity_kb": 0}, "capacity_kb"),
    ({"capacity_kb": True}, "capacity_kb"),
    ({"low_watermark": 0.99}, "low_watermark"),
    ({"high_watermark": float("nan")}, "high_watermark"),
    ({"host": "0.0.0.0"}, "loopback"),
    ({"port": 70000}, "port"),
    ({"reward_mode": "gess"}, "guess"),
    ({"reward_mode": "reuse"}, "reward_mode"),  # hindsight: a live cache cannot know it
    ({"cache_dir": Path("/nonexistent/x")}, "not a directory"),
])
def test_sidecar_config(tmp_path: Path, change: dict, words: str) -> None:
    base = {"cache_dir": tmp_path, "capacity_kb": 100, "redis_url": "redis://127.0.0.1:1/0"}
    with pytest.raises(ConfigError, match=words):
        SidecarConfig(**{**base, **change})


@pytest.mark.faults
@pytest.mark.parametrize("change, words", [
    ({"sidecar_host": "192.0.2.1"}, "loopback"),
    ({"sidecar_port": 0}, "sidecar_port"),
    ({"window": -1}, "window"),
    ({"scale": 0}, "scale"),
    ({"low_watermark": 1.5}, "low_watermark"),
    ({"ack_timeout_s": 0}, "ack_timeout_s"),
])
def test_loadgen_config(tmp_path: Path, change: dict, words: str) -> None:
    base = {"cache_dir": tmp_path, "capacity_kb": 100, "sidecar_port": 9}
    with pytest.raises(ConfigError, match=words):
        LoadGenConfig(**{**base, **change})


@pytest.mark.faults
def test_actor_and_redis_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="remote"):
        ActorSpec(kind="remot")
    with pytest.raises(ConfigError, match="segment_steps"):
        ActorSpec(segment_steps=0)
    with pytest.raises(ConfigError, match="fsync"):
        RedisServer(tmp_path, fsync="sometimes")
