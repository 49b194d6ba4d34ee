"""Observation assembly on hand-made snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.state import ObservationBuilder


def snap(backlog, drops=(0, 0), tx=(0, 0), rx=(0, 0), host_tx=(0, 0), backlog_max=None) -> Snapshot:
    cap = np.array([10e6, 10e6])
    return Snapshot(
        interval_s=0.1,
        port_backlog_bytes=np.array(backlog, float),
        port_backlog_max_bytes=np.array(backlog_max if backlog_max is not None else backlog, float),
        port_queue_limit_bytes=np.array([50_000.0, 50_000.0]),
        port_drops=np.array(drops, float),
        port_overlimits=np.zeros(2),
        port_tx_bps=np.array(tx, float),
        port_rx_bps=np.array(rx, float),
        port_capacity_bps=cap,
        host_tx_bps=np.array(host_tx, float),
        host_rx_bps=np.zeros(2),
        host_capacity_bps=cap,
    )


def test_port_major_layout_then_host_rates():
    b = ObservationBuilder(["backlog", "bw_tx"], ["s1-eth1", "s1-eth2"], ["h1", "h2"])
    assert b.layout == ["port s1-eth1 backlog", "port s1-eth1 bw_tx", "port s1-eth2 backlog", "port s1-eth2 bw_tx",
                        "host h1 rate", "host h2 rate"]
    obs = b.build(snap([25_000, 5_000], tx=[10e6, 2.5e6]), np.array([0.5, 1.0]))
    np.testing.assert_allclose(obs, [0.5, 1.0, 0.1, 0.25, 0.5, 1.0], rtol=1e-6)
    assert obs.dtype == np.float32 and b.space.contains(obs)


def test_d_backlog_is_the_change_since_the_previous_step_and_may_be_negative():
    b = ObservationBuilder(["d_backlog"], ["p1", "p2"], ["h1"])
    assert b.space.low[0] == -1.0
    first = b.build(snap([10_000, 0]), np.array([1.0]))
    np.testing.assert_allclose(first[:2], [0.0, 0.0])  # no previous step: no change
    second = b.build(snap([0, 40_000]), np.array([1.0]))
    np.testing.assert_allclose(second[:2], [-0.2, 0.8], rtol=1e-6)
    b.reset()
    np.testing.assert_allclose(b.build(snap([0, 40_000]), np.array([1.0]))[:2], [0.0, 0.0])


def test_drops_are_normalised_by_packets_the_port_could_send_and_clipped():
    b = ObservationBuilder(["drops"], ["p1", "p2"], ["h1"])
    # 10 Mbit/s for 0.1 s = 125 kB = 83.3 full-size packets
    obs = b.build(snap([0, 0], drops=[41.6667, 500]), np.array([1.0]))
    assert obs[0] == pytest.approx(0.5, rel=1e-3)
    assert obs[1] == 1.0


def test_values_outside_the_space_are_clipped():
    b = ObservationBuilder(["backlog_max", "bw_rx"], ["p1", "p2"], ["h1"])
    obs = b.build(snap([0, 0], rx=[20e6, 0], backlog_max=[80_000, 0]), np.array([1.0]))
    assert obs[0] == 1.0 and obs[1] == 1.0
