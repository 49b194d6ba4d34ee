"""Rewards on hand-computed values, their sums and weights, and the errors they raise."""

from __future__ import annotations

import dataclasses

import pickle

import numpy as np
import pytest

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.rewards import (
    REWARDS,
    STEP_QUEUE_THRESHOLD,
    delivered_fraction,
    describe_reward,
    gini_coefficient,
    jain_index,
    make_reward,
    max_queue_fraction,
)
from iroko_gym.errors import ActionError, ConfigError


def snap(backlog=(0.0, 0.0), limit=(100.0, 100.0), rx=(0.0, 0.0), host_cap=(10e6, 10e6)) -> Snapshot:
    """A snapshot with the given port backlogs/bounds (bytes) and host rx/capacity (bit/s)."""
    ports, hosts = len(backlog), len(rx)
    zp, zh = np.zeros(ports), np.zeros(hosts)
    return Snapshot(
        interval_s=0.1,
        port_backlog_bytes=np.array(backlog, dtype=float),
        port_backlog_max_bytes=np.array(backlog, dtype=float),
        port_queue_limit_bytes=np.array(limit, dtype=float),
        port_drops=zp, port_overlimits=zp, port_tx_bps=zp, port_rx_bps=zp,
        port_capacity_bps=np.full(ports, 10e6),
        host_tx_bps=zh,
        host_rx_bps=np.array(rx, dtype=float),
        host_capacity_bps=np.array(host_cap, dtype=float),
    )


A = np.array([0.2, 0.6])  # mean 0.4, jain 0.64/(2*0.4) = 0.8, gini |0.2-0.6|/(2*2*0.4) = 0.25, std 0.2
QUIET = snap()
Q20 = snap(backlog=(20.0, 5.0))  # q = 0.2 (below the step threshold)
Q50 = snap(backlog=(10.0, 50.0))  # q = 0.5 (above it)


def test_helpers_on_hand_values():
    assert jain_index(A) == pytest.approx(0.8)
    assert gini_coefficient(A) == pytest.approx(0.25)
    assert jain_index(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25)
    assert gini_coefficient(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.75)


def test_gini_on_three_values_and_on_the_same_size_again():
    # sorted 0, 1, 3: (-2*0 + 0*1 + 2*3) / (3 * 4) = 0.5; the weights of a size are cached, not stale
    for _ in range(2):
        assert gini_coefficient(np.array([3.0, 0.0, 1.0])) == pytest.approx(0.5)
    assert gini_coefficient(np.array([1.0, 0.0])) == pytest.approx(0.5)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # the 0/0 on purpose
def test_a_port_without_a_bound_does_not_count_in_the_worst_queue():
    assert max_queue_fraction(snap(backlog=(0.0, 30.0), limit=(0.0, 100.0))) == pytest.approx(0.3)  # 0/0 is NaN
    assert max_queue_fraction(snap(backlog=(), limit=())) == 0.0
    assert max_queue_fraction(snap(backlog=(500.0, 0.0))) == 1.0  # clipped at its bound


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_delivered_rate_counts_as_nothing(bad):
    assert delivered_fraction(snap(rx=(5e6, bad))) == pytest.approx(0.25)
    assert delivered_fraction(snap(rx=(5e6, 5e6))) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "name, s, expected",
    [
        ("action", QUIET, 0.4),
        ("fairness", QUIET, 0.8),
        ("gini", QUIET, 0.75),
        ("std_dev", QUIET, -0.2),
        ("queue", Q20, -0.04),
        ("queue", Q50, -0.25),
        ("joint_queue", Q20, 0.4 * (1 - 0.4)),
        ("joint_queue", Q50, 0.0),
        ("fair_queue", Q20, (0.4 + 0.8) * 0.8),
        ("fair_queue", Q50, (0.4 + 0.8) * 0.5),
        ("step", Q20, 0.4 * 0.75 - 0.2),
        ("step", Q50, -0.4 * 0.75 - 0.5),
        ("throughput", snap(rx=(5e6, 3e6), backlog=(20.0, 0.0)), 8e6 / 20e6 - 0.2),
        ("utilisation_queue", dataclasses.replace(Q20, port_tx_bps=np.array([9e6, 2e6])), 0.9 - 2 * 0.2),
    ],
)
def test_each_reward_on_hand_computed_values(name, s, expected):
    assert REWARDS[name](s, A) == pytest.approx(expected)
    assert make_reward(name)(s, A) == pytest.approx(expected)


def test_every_reward_has_a_hand_computed_case():
    covered = {"action", "fairness", "gini", "std_dev", "queue", "joint_queue", "fair_queue", "step", "throughput",
               "utilisation_queue"}
    assert set(REWARDS) == covered


def test_utilisation_queue_is_the_measured_busiest_port_capped():
    assert REWARDS["utilisation_queue"](QUIET, np.ones(2)) == 0.0  # asked for everything, nothing sent
    glitch = dataclasses.replace(QUIET, port_tx_bps=np.array([30e6, 0.0]))
    assert REWARDS["utilisation_queue"](glitch, np.ones(2)) == 1.0


def test_step_threshold_is_inclusive_below():
    at = snap(backlog=(STEP_QUEUE_THRESHOLD * 100.0, 0.0))
    assert REWARDS["step"](at, np.ones(2)) == pytest.approx(1.0 - STEP_QUEUE_THRESHOLD)


def test_throughput_is_measured_not_commanded_and_capped():
    full = np.ones(2)
    assert REWARDS["throughput"](QUIET, full) == 0.0  # asked for everything, nothing delivered
    assert REWARDS["throughput"](snap(rx=(30e6, 30e6)), full) == 1.0  # counter glitch: capped at 1


def test_queue_uses_the_worst_port_and_clips_over_full():
    assert REWARDS["queue"](snap(backlog=(250.0, 0.0)), A) == -1.0


@pytest.mark.parametrize("action", [np.zeros(2), np.zeros(0), np.full(3, 1e-3)])
@pytest.mark.parametrize("name", sorted(REWARDS))
def test_degenerate_inputs_give_finite_values(name, action):
    hosts = (0.0,) * action.size
    busy = snap(backlog=(100.0, 0.0), rx=hosts, host_cap=(10e6,) * action.size)
    no_ports_no_capacity = snap(backlog=(), limit=(), rx=hosts, host_cap=hosts)
    for s in (busy, no_ports_no_capacity):
        assert np.isfinite(make_reward(name)(s, action))


def test_fairness_of_all_zero_action_is_one():
    assert REWARDS["fairness"](QUIET, np.zeros(4)) == 1.0
    assert REWARDS["gini"](QUIET, np.zeros(4)) == 1.0


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_values_stay_in_documented_range(name):
    rng = np.random.default_rng(0)
    reward = make_reward(name)
    low, high = reward.range
    for _ in range(200):
        action = rng.uniform(0.01, 1.0, size=4)
        s = snap(backlog=tuple(rng.uniform(0, 120, size=2)), rx=tuple(rng.uniform(0, 10e6, size=4)), host_cap=(10e6,) * 4)
        assert low - 1e-12 <= reward(s, action) <= high + 1e-12


def test_sums_and_weights():
    s = snap(rx=(5e6, 3e6), backlog=(20.0, 0.0))
    tp, fair = REWARDS["throughput"](s, A), REWARDS["fairness"](s, A)
    assert make_reward("throughput+fairness")(s, A) == pytest.approx(tp + fair)
    assert make_reward(" throughput + fairness ")(s, A) == pytest.approx(tp + fair)
    assert make_reward(["throughput", "fairness"])(s, A) == pytest.approx(tp + fair)
    assert make_reward({"throughput": 2, "fairness": -0.5})(s, A) == pytest.approx(2 * tp - 0.5 * fair)
    assert make_reward("action+action").terms == (("action", 2.0),)


def test_weighted_range_accounts_for_negative_weights():
    assert make_reward({"queue": -2.0, "action": 1.0}).range == (0.0, 3.0)
    assert make_reward("step+fairness").range == (-2.0, 2.0)


def test_combined_reward_is_picklable_and_printable():
    reward = make_reward({"step": 1, "fairness": 0.5})
    assert pickle.loads(pickle.dumps(reward)) == reward
    assert str(reward) == "step + 0.5*fairness"


def test_describe_lists_formulas_and_range():
    text = describe_reward("throughput+fairness")
    assert "throughput + fairness" in text and "range [-1, 2]" in text
    assert "sum(host_rx_bps) / sum(host_capacity_bps) - q" in text
    assert "jain(a)" in text


def test_unknown_name_suggests_and_lists():
    with pytest.raises(ConfigError, match=r"'fairnes'.*did you mean 'fairness'.*known rewards: \['action'"):
        make_reward("throughput+fairnes")
    with pytest.raises(ConfigError, match="unknown reward 'nope'; known rewards"):
        make_reward({"nope": 1.0})


@pytest.mark.parametrize("spec", ["", [], {}, 3, "step+", None])
def test_empty_or_malformed_specs_are_rejected(spec):
    with pytest.raises(ConfigError):
        make_reward(spec)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), "1", True, None])
def test_bad_weights_are_rejected(weight):
    with pytest.raises(ConfigError, match="weight"):
        make_reward({"step": weight})


def test_non_finite_action_is_an_action_error():
    with pytest.raises(ActionError, match="non-finite"):
        make_reward("action")(QUIET, np.array([0.5, np.nan]))


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        REWARDS["mine"] = REWARDS["step"]  # type: ignore[index]
