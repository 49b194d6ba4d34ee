"""The non-blocking switch at 16 hosts: the ideal-fabric reference (root + Mininet)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401

pytestmark = pytest.mark.emulation


@pytest.fixture
def env(tmp_path):
    env = gym.make("dc-iroko-v0", topology="nonblock", topology_params={"num_hosts": 16}, transport="udp",
                   pattern="stride", pattern_params={"stride": 8}, output_dir=str(tmp_path))
    yield env
    env.close()


def test_layout_scales_with_16_hosts(env):
    obs, _ = env.reset(seed=0)
    layout = env.unwrapped.layout
    assert obs.shape == (16 * 6 + 16,) and len(layout["observation"]) == obs.size
    assert layout["observation"][:2] == ["port s1-eth1 backlog", "port s1-eth1 d_backlog"]
    assert layout["observation"][-1] == "host h16 rate" and layout["action"][-1] == "h16"


def test_every_receiver_gets_the_rate_its_sender_was_given(env):
    env.reset(seed=0)
    action = np.linspace(0.2, 0.9, 16).astype(np.float32)  # host i sends to host (i + 8) mod 16
    for _ in range(5):
        env.step(action)
    rx = np.mean([env.step(action)[4]["host_rx_bps"] for _ in range(10)], axis=0)
    expected = np.roll(action, 8) * 10e6
    assert rx == pytest.approx(expected, rel=0.12)


def test_full_rate_everywhere_fills_no_queue(env):
    env.reset(seed=0)
    full = np.ones(16, dtype=np.float32)
    infos = [env.step(full)[4] for _ in range(15)]
    assert np.mean([i["host_rx_bps"] for i in infos[5:]], axis=0).min() > 8.5e6
    assert max(i["port_drops"].sum() for i in infos[5:]) == 0  # one sender per receiver: no contention
