"""The shared edge checks: each names the field and the value, and refuses bools as numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.validate import (check_bool, check_choice, check_int, check_known_keys, check_mapping, check_real,
                                did_you_mean)


def test_did_you_mean_suggests_the_closest_option_or_nothing():
    assert did_you_mean("stirde", ["stride", "incast"]) == " (did you mean 'stride'?)"
    assert did_you_mean("zzz", ["stride", "incast"]) == ""


def test_unknown_keys_are_reported_all_at_once_with_suggestions():
    with pytest.raises(ConfigError) as err:
        check_known_keys("option(s)", ["gama", "lam", "clip_ratoi"], ["gamma", "lam", "clip_ratio"])
    msg = str(err.value)
    assert "'gama' (did you mean 'gamma'?)" in msg and "'clip_ratoi' (did you mean 'clip_ratio'?)" in msg
    assert "'lam'" not in msg.split(";")[0]


@pytest.mark.parametrize("value", [True, 1.0, "3", None, np.float32(2)])
def test_check_int_refuses_non_integers_and_bools(value):
    with pytest.raises(ConfigError, match="max_steps="):
        check_int("max_steps", value, 1)


def test_check_int_accepts_numpy_integers_and_checks_the_range():
    assert check_int("n", np.int64(10), 1) == 10 and type(check_int("n", np.int64(10))) is int
    with pytest.raises(ConfigError, match=r"in \[1, 5\]"):
        check_int("n", 6, 1, 5)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0, "a", True])
def test_check_real_positive_refuses_nan_inf_nonpositive_strings_and_bools(value):
    with pytest.raises(ConfigError, match="queue_ms="):
        check_real("queue_ms", value, positive=True)


def test_check_bool_refuses_truthy_strings_and_other_errors_can_be_chosen():
    assert check_bool("flag", np.bool_(True)) is True
    with pytest.raises(RemoteError, match="normalize_reward='no'"):
        check_bool("normalize_reward", "no", error=RemoteError)


def test_check_choice_and_mapping():
    with pytest.raises(ConfigError, match="did you mean 'tcp'"):
        check_choice("transport", "tpc", ("tcp", "udp"))
    with pytest.raises(ConfigError, match="topology_params=5"):
        check_mapping("topology_params", 5)
    assert check_mapping("p", {"k": 4}) == {"k": 4}
