"""Every bad field of ``gymnasium.make("dc-iroko-v0", ...)`` is a ConfigError that names it (no root needed)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.errors import ConfigError

pytestmark = pytest.mark.faults

BAD = [
    ("topology_params", [("k", 4)]),
    ("topology_params", "k=4"),
    ("pattern_params", 3),
    ("topology_params", {"queue_ms": "a"}),
    ("topology_params", {"queue_ms": math.nan}),
    ("topology_params", {"queue_ms": -1}),
    ("topology_params", {"hosts_per_side": True}),
    ("pattern_file", 5),
    ("pattern_file", ""),
    ("state_model", None),
    ("state_model", []),
    ("state_model", ["backlog", 3]),
    ("min_fraction", True),
    ("min_fraction", 1.5),
    ("rate_control", "no"),
    ("rate_control", 0),
    ("port", True),
    ("port", 70000),
    ("output_dir", ""),
    ("output_dir", 5),
    ("socket_stats", "yes"),
    ("max_steps", 1.5),
    ("max_steps", True),
    ("capacity_mbps", math.inf),
    ("step_interval_ms", "100"),
    ("warm_up_ms", -1.0),
    ("warm_up_ms", math.nan),
    ("warm_up_ms", 100.0),  # not shorter than the default 100 ms step
    ("topology", "fatree"),
    ("transport", "tpc"),
    ("congestion_control", 3),
    ("pattern", None),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_a_bad_field_is_a_config_error_naming_it(field, value):
    with pytest.raises(ConfigError) as err:
        gym.make("dc-iroko-v0", **{field: value})
    named = next(iter(value)) if isinstance(value, dict) else field
    assert named in str(err.value), str(err.value)


def test_unknown_options_are_all_reported_with_suggestions():
    with pytest.raises(ConfigError) as err:
        gym.make("dc-iroko-v0", max_step=5, transprot="udp")
    msg = str(err.value)
    assert "'max_step' (did you mean 'max_steps'?)" in msg and "'transprot' (did you mean 'transport'?)" in msg


def test_numpy_numbers_are_accepted_as_plain_ones():
    env = gym.make("dc-iroko-v0", max_steps=np.int64(10), capacity_mbps=np.float32(10), port=np.int32(5202))
    cfg = env.unwrapped.config
    assert (cfg.max_steps, cfg.port) == (10, 5202) and type(cfg.max_steps) is int and type(cfg.capacity_mbps) is float
    env.close()
