"""The RLlib env creator: distinct per-env paths from worker/vector indices, config through the env dataclasses.

No root and no Ray cluster: envs are only constructed (a DC env builds its network at ``reset()``).
With Ray installed the real ``EnvContext`` is used, otherwise a stand-in with the same attributes.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from iroko_gym import rllib
from iroko_gym.dc.config import DCConfig
from iroko_gym.errors import ConfigError

try:
    from ray.rllib.env.env_context import EnvContext
except ImportError:  # Ray is an optional extra: the creator only reads these attributes

    class EnvContext(dict):  # type: ignore[no-redef]
        def __init__(self, env_config: dict[str, Any], worker_index: int, vector_index: int = 0, num_workers: int = 0) -> None:
            super().__init__(env_config)
            self.worker_index, self.vector_index, self.num_workers = worker_index, vector_index, num_workers


def _ctx(config: dict[str, Any], worker: int, vector: int = 0, num_workers: int = 2) -> EnvContext:
    return EnvContext(config, worker_index=worker, vector_index=vector, num_workers=num_workers)


def test_worker_and_vector_indices_get_distinct_output_dirs(tmp_path: Path) -> None:
    envs = [rllib.create_env("dc-iroko-v0", _ctx({"output_dir": str(tmp_path)}, w, v))
            for w, v in itertools.product(range(3), range(2))]
    dirs = [e.unwrapped.config.output_dir for e in envs]
    assert len(set(dirs)) == len(dirs)
    assert all(Path(d).parent == tmp_path for d in dirs)
    assert str(tmp_path / "w2-v1") in dirs
    for e in envs:
        e.close()


def test_same_context_twice_in_one_process_still_distinct(tmp_path: Path) -> None:
    """RLlib's new stack gives every sub-env of a runner the same context (vector_index 0)."""
    ctx = _ctx({"output_dir": str(tmp_path)}, 1)
    a, b = rllib.create_env("dc-iroko-v0", ctx), rllib.create_env("dc-iroko-v0", ctx)
    assert a.unwrapped.config.output_dir != b.unwrapped.config.output_dir
    a.close()
    b.close()


def test_env_config_goes_through_dcconfig_like_gymnasium_make(tmp_path: Path) -> None:
    options = {"capacity_mbps": 20.0, "state_model": "backlog", "max_steps": 7, "reward": "step", "output_dir": str(tmp_path)}
    env = rllib.create_env("dc-iroko-v0", _ctx(options, 1))
    made = gym.make("dc-iroko-v0", **options)
    cfg = env.unwrapped.config
    assert isinstance(cfg, DCConfig)
    assert cfg.state_model == ("backlog",) and cfg.capacity_mbps == 20.0 and cfg.max_steps == 7
    expected = {**made.unwrapped.config.as_dict(), "output_dir": str(tmp_path / "w1-v0")}
    assert cfg.as_dict() == expected
    assert env.observation_space == made.observation_space and env.action_space == made.action_space
    env.close()
    made.close()


def test_registered_kwargs_of_the_id_are_kept() -> None:
    env = rllib.create_env("dc-tcp-v0", _ctx({}, 1))
    assert env.unwrapped.config.rate_control is False
    assert env.unwrapped.config.output_dir is None  # default <tmp>/iroko-gym/<prefix>: distinct by prefix
    env.close()


@pytest.mark.parametrize(("env_id", "key"), [("dc-iroko-v0", "capacity_mbp"), ("Cache-v0", "cache_size")])
def test_bad_option_fails_with_the_env_configs_error(env_id: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key!r}.*did you mean"):
        rllib.create_env(env_id, _ctx({key: 1}, 1))


def test_bad_value_fails_in_the_driver_before_any_worker() -> None:
    with pytest.raises(ConfigError, match="capacity_mbps=-1"):
        rllib.validate_env_config("dc-iroko-v0", {"capacity_mbps": -1})


def test_unknown_env_id_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'Cache-v9'.*did you mean"):
        rllib.create_env("Cache-v9", _ctx({}, 1))


def test_cache_monitor_paths_distinct_and_observations_float32(tmp_path: Path) -> None:
    monitor = tmp_path / "monitor" / "ep{episode}.parquet"
    envs = [rllib.create_env("Cache-v0", _ctx({"monitor_path": str(monitor), "length": 10}, w, v))
            for w, v in itertools.product(range(2), range(2))]
    paths = [str(e.unwrapped.config.monitor_path) for e in envs]
    assert len(set(paths)) == 4
    assert str(tmp_path / "monitor" / "w1-v1" / "ep{episode}.parquet") in paths
    obs, _ = envs[0].reset(seed=0)
    assert obs.dtype == np.float32 and envs[0].observation_space.contains(obs)
    for e in envs:
        e.close()


def test_register_envs_registers_every_iroko_id_with_ray() -> None:
    pytest.importorskip("ray", reason="Ray is the optional extra `.[ray]` (./install.sh --ray)")
    from ray.tune.registry import ENV_CREATOR, _global_registry

    ids = rllib.register_envs()
    assert {"dc-iroko-v0", "Cache-v0"} <= set(ids)
    assert all(_global_registry.contains(ENV_CREATOR, i) for i in ids)


def test_existing_slot_dir_is_not_reused(tmp_path: Path) -> None:
    """A restarted env runner (same worker index, new process) must not overwrite its predecessor's flows."""
    (tmp_path / "w3-v0").mkdir()
    env = rllib.create_env("dc-iroko-v0", _ctx({"output_dir": str(tmp_path)}, 3))
    assert env.unwrapped.config.output_dir == str(tmp_path / "w3-v0-1")
    env.close()
