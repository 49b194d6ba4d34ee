"""DCEnv's Gymnasium contract and input checks, on the fake network (no root, virtual time)."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import iroko_gym  # noqa: F401  (registers the ids)
from iroko_gym.dc.env import DCEnv
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.errors import ActionError, ConfigError


def make(traffic_steps: int | None = None, **kwargs) -> DCEnv:
    factory = functools.partial(FakeNetwork, traffic_steps=traffic_steps)
    return gym.make("dc-iroko-v0", network_factory=factory, **kwargs)


def test_check_env_passes_on_fake_network():
    env = make(max_steps=20)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_spaces_without_root_and_layout_names_every_entry():
    env = gym.make("dc-iroko-v0")  # no reset: nothing is built, no root needed
    dc = env.unwrapped
    assert env.action_space.shape == (4,)
    assert env.action_space.low[0] == pytest.approx(0.05)
    ports = len(dc.topology.ports)
    assert env.observation_space.shape == (ports * 6 + 4,)
    layout = dc.layout["observation"]
    assert len(layout) == env.observation_space.shape[0]
    assert layout[0] == "port s1-eth1 backlog" and layout[-1] == "host h4 rate"
    assert dc.layout["action"] == ["h1", "h2", "h3", "h4"]
    env.close()
    env.close()


def test_full_rate_fills_queue_and_low_rate_drains_it():
    env = make(reward="queue")
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    for _ in range(5):
        obs, r_full, *_ = env.step(np.ones(4, dtype=np.float32))
    assert obs[0] > 0.5  # backlog of the bottleneck port, normalised
    for _ in range(20):
        obs, r_low, *_ = env.step(np.full(4, 0.05, dtype=np.float32))
    assert obs[0] == 0.0
    assert r_low > r_full
    env.close()


def test_info_carries_raw_measurements_and_applied_rates():
    env = make()
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, 0.5, 0.25, 0.0], dtype=np.float32))
    np.testing.assert_allclose(info["applied_rates_bps"], [10e6, 5e6, 2.5e6, 0.5e6])  # 0.0 clipped to min_fraction
    for key in ("host_tx_bps", "host_rx_bps", "port_backlog_bytes", "port_drops", "port_overlimits", "apply_latency_s"):
        assert key in info
    env.close()


def test_truncated_at_step_budget_and_terminated_when_traffic_ends():
    env = make(max_steps=3)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(gym.error.ResetNeeded):
        env.unwrapped.step(np.ones(4))
    env.close()

    env = make(traffic_steps=2, max_steps=10)
    env.reset(seed=0)
    _, _, term1, _, _ = env.step(np.ones(4, dtype=np.float32))
    _, _, term2, trunc2, info = env.step(np.ones(4, dtype=np.float32))
    assert (term1, term2, trunc2) == (False, True, False)
    assert info["flows"]["flows"] == 0
    env.close()


def test_reset_reuses_network_and_close_is_idempotent():
    env = make()
    env.reset(seed=1)
    net = env.unwrapped._network
    env.reset(seed=2)
    assert env.unwrapped._network is net and net.episodes == 2
    env.close()
    env.close()
    assert net.closed


@pytest.mark.parametrize(
    "action, fragment",
    [
        (np.ones(3), "shape (3,)"),
        (np.ones((2, 2)), "shape (2, 2)"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "action[1] (host h2) is nan"),
        (np.array([1.0, 1.0, np.inf, 1.0]), "action[2] (host h3) is inf"),
    ],
)
def test_bad_actions_raise_naming_the_problem(action, fragment):
    env = make()
    env.reset(seed=0)
    with pytest.raises(ActionError) as err:
        env.unwrapped.step(action)
    assert fragment in str(err.value)
    env.close()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"capacity_mbps": -1}, "capacity_mbps=-1"),
        ({"step_interval_ms": 0}, "step_interval_ms=0"),
        ({"transport": "tpc"}, "did you mean 'tcp'"),
        ({"state_model": ["backlog", "qlen"]}, "'qlen'"),
        ({"max_step": 10}, "did you mean 'max_steps'"),
        ({"min_fraction": 1.5}, "min_fraction=1.5"),
        ({"topology": "dumbell"}, "did you mean 'dumbbell'"),
        ({"topology_params": {"hosts_per_side": 0}}, "hosts_per_side=0"),
        ({"reward": "stepp"}, "stepp"),
        ({"pattern": "incas"}, "incas"),
        ({"pattern_file": "/nonexistent/p.csv"}, "/nonexistent/p.csv"),
        ({"sample_interval_ms": 200}, "sample_interval_ms=200"),
        ({"congestion_control": "cubik"}, "did you mean 'cubic'"),
    ],
)
def test_bad_config_raises_config_error_naming_field_and_value(kwargs, fragment):
    with pytest.raises(ConfigError) as err:
        gym.make("dc-iroko-v0", **kwargs)
    assert fragment in str(err.value)


def test_reset_options_choose_pattern_per_episode_and_reject_unknown_keys():
    env = make()
    _, info = env.reset(seed=0, options={"pattern": "all_to_all"})
    assert info["pattern"] == "all_to_all" and info["num_flows"] == 12
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(options={"patern": "incast"})
    env.close()


def test_dc_tcp_v0_never_limits_rates():
    env = gym.make("dc-tcp-v0", network_factory=FakeNetwork)
    assert env.unwrapped.config.rate_control is False
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.full(4, 0.1, dtype=np.float32))
    assert info["apply_latency_s"] == 0.0
    np.testing.assert_allclose(info["applied_rates_bps"], [10e6] * 4)
    env.close()


def test_congestion_control_missing_from_kernel_names_the_kernel_feature():
    from iroko_gym.dc.config import available_congestion_controls
    from iroko_gym.errors import DependencyError

    assert "dctcp" not in available_congestion_controls()  # this machine's kernel (see README)
    with pytest.raises(DependencyError, match="tcp_dctcp"):
        gym.make("dc-iroko-v0", congestion_control="dctcp")


def _run(warm_up_ms: float, steps: int = 12) -> tuple[list, FakeNetwork]:
    env = make(warm_up_ms=warm_up_ms, step_interval_ms=20, reward="step+throughput", max_steps=100)
    obs, _ = env.reset(seed=5)
    out = [obs]
    rng = np.random.default_rng(1)
    for _ in range(steps):  # rates that swing, so that d_backlog and the reward move every step
        obs, reward, _, _, info = env.step(rng.uniform(0.05, 1.0, size=4).astype(np.float32))
        out.append((obs, reward, {k: v for k, v in info.items() if k != "apply_latency_s"}))
    network = env.unwrapped._network
    env.close()
    return out, network


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(np.array_equal(a, b))


def test_warm_up_rehearses_every_step_and_changes_no_observation_reward_or_info():
    plain, plain_net = _run(0.0)
    warm, warm_net = _run(1.0)
    assert (plain_net.warm_ups, warm_net.warm_ups) == (0, 12)
    assert _same(plain, warm)
    assert any(obs[1] != 0 for obs, _, _ in warm[1:])  # port 0's d_backlog moved, so its base was compared
