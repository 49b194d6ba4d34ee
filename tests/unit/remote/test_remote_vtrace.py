"""V-trace targets on hand-computed values, and the PPO option that uses them."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import ActionSpec, PPOConfig
from iroko_gym.remote.ppo import PPO
from iroko_gym.remote.trajectory import TrajectoryData
from iroko_gym.remote.vtrace import vtrace


def test_on_policy_with_lambda_one_gives_discounted_returns():
    # V = 0 everywhere, r = 1, gamma = 0.5, terminated: v = [1.75, 1.5, 1].
    v, a = vtrace(np.zeros(3), 0.0, np.ones(3), np.zeros(3), gamma=0.5)
    np.testing.assert_allclose(v, [1.75, 1.5, 1.0])
    # A_t = r_t + gamma v_{t+1} - V_t = [1 + .75, 1 + .5, 1].
    np.testing.assert_allclose(a, [1.75, 1.5, 1.0])


def test_on_policy_targets_minus_values_are_gae():
    values, rewards = np.array([0.5, -0.2, 1.0]), np.array([1.0, 0.0, 2.0])
    gamma, lam, boot = 0.9, 0.8, 0.3
    v, _ = vtrace(values, boot, rewards, np.zeros(3), gamma=gamma, lam=lam)
    deltas = rewards + gamma * np.append(values[1:], boot) - values
    gae = [deltas[0] + gamma * lam * (deltas[1] + gamma * lam * deltas[2]),
           deltas[1] + gamma * lam * deltas[2], deltas[2]]
    np.testing.assert_allclose(v - values, gae, rtol=1e-6)


def test_truncated_weights_by_hand():
    # Two steps, V = [1, 2], bootstrap 3, r = [1, 1], gamma = 1, lam = 1.
    # pi/mu = [0.5, 4]: rho = [0.5, 1] (rho_bar 1), c = [0.5, 1].
    # delta_1 = 1 * (1 + 3 - 2) = 2        -> v_1 = 2 + 2 = 4
    # delta_0 = 0.5 * (1 + 2 - 1) = 1      -> v_0 = 1 + 1 + 1 * 0.5 * (4 - 2) = 3
    # A_1 = 1 * (1 + 3 - 2) = 2;  A_0 = 0.5 * (1 + 4 - 1) = 2
    v, a = vtrace(np.array([1.0, 2.0]), 3.0, np.ones(2), np.log([0.5, 4.0]), gamma=1.0)
    np.testing.assert_allclose(v, [3.0, 4.0])
    np.testing.assert_allclose(a, [2.0, 2.0])
    # rho_bar = c_bar = 2: rho = [0.5, 2]: delta_1 = 4 -> v_1 = 6; delta_0 = 1 -> v_0 = 2 + .5*4 = 4
    v, a = vtrace(np.array([1.0, 2.0]), 3.0, np.ones(2), np.log([0.5, 4.0]), gamma=1.0,
                  rho_bar=2.0, c_bar=2.0)
    np.testing.assert_allclose(v, [4.0, 6.0])
    np.testing.assert_allclose(a, [0.5 * (1 + 6 - 1), 2 * (1 + 3 - 2)])


def test_a_vanishing_ratio_cuts_the_trace():
    v, a = vtrace(np.array([1.0, 2.0]), 5.0, np.ones(2), np.array([-math.inf, 0.0]), gamma=1.0)
    np.testing.assert_allclose(v, [1.0, 6.0])   # step 0 keeps its own value
    np.testing.assert_allclose(a, [0.0, 4.0])


def _trajectory(version: int, rng: np.random.Generator, steps: int = 20) -> TrajectoryData:
    return TrajectoryData(version=version, observations=rng.normal(size=(steps, 4)).astype(np.float32),
                          actions=rng.integers(0, 2, steps), rewards=np.ones(steps, np.float32),
                          log_probs=np.full(steps, math.log(0.5), np.float32), masks=None,
                          terminated=True, next_observation=None)


def test_ppo_vtrace_trains_on_stale_data_and_moves_the_policy():
    params = PPOConfig(hidden_sizes=(8,), rollout_steps=40, minibatch_size=20,
                       correction="vtrace", max_staleness=100, target_kl=None)
    ppo = PPO(params, 4, ActionSpec(n=2))
    assert ppo.accepts(1, 90) and not ppo.accepts(1, 102) and not ppo.accepts(3, 2)
    rng = np.random.default_rng(0)
    before = {k: v.copy() for k, v in ppo.policy_tensors().items()}
    for version in (1, 2):
        ppo.ingest(_trajectory(version, rng))
    assert ppo.ready()
    metrics, publish = ppo.train()
    assert publish and all(math.isfinite(v) for v in metrics.values())
    after = ppo.policy_tensors()
    assert any(not np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.faults
@pytest.mark.parametrize(("params", "message"), [
    ({"correction": "vtrace"}, "max_staleness=0: correction='vtrace' needs stale data"),
    ({"correction": "impala"}, "correction='impala': must be one of ['clip', 'vtrace']"),
    ({"correction": "vtrace", "max_staleness": 5, "vtrace_rho_bar": 0.0}, "vtrace_rho_bar=0.0"),
    ({"correction": "vtrace", "max_staleness": 5, "vtrace_c_bar": math.nan}, "vtrace_c_bar=nan"),
])
def test_bad_vtrace_options_name_the_value(params, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        PPOConfig(**params)
