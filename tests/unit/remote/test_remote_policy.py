"""The client's numpy inference matches the learners' torch networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iroko_gym.remote.config import ActionSpec
from iroko_gym.remote.networks import ActorCritic, QNetwork
from iroko_gym.remote.policy import LocalPolicy
from iroko_gym.remote.snapshots import ModelSnapshot


def obs_batch(n: int = 32, size: int = 5) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, size)).astype(np.float32)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_discrete_logits_and_log_probs_match_torch(activation):
    torch.manual_seed(0)
    net = ActorCritic(5, ActionSpec(n=3), (16, 16), activation)
    policy = LocalPolicy(ModelSnapshot.freeze(1, net.policy_tensors()), "PPO", activation,
                         ActionSpec(n=3), np.random.default_rng(0))
    obs = obs_batch()
    mask = np.array([True, False, True])
    with torch.no_grad():
        dist = net.distribution(torch.as_tensor(obs), torch.as_tensor(np.tile(mask, (32, 1))))
    for i, row in enumerate(obs):
        act, raw, logp = policy.act(row, mask)
        assert act == raw and act in (0, 2)
        assert logp == pytest.approx(float(dist.log_prob(torch.tensor(act))[i]), abs=1e-5)


def test_gaussian_log_probs_match_torch_and_actions_are_clipped():
    action = ActionSpec(low=(0.0, -1.0), high=(0.5, 1.0))
    torch.manual_seed(0)
    net = ActorCritic(5, action, (16,), "tanh", init_log_std=0.5)
    policy = LocalPolicy(ModelSnapshot.freeze(1, net.policy_tensors()), "PPO", "tanh", action,
                         np.random.default_rng(0))
    obs = obs_batch()
    with torch.no_grad():
        dist = net.distribution(torch.as_tensor(obs))
    for i, row in enumerate(obs):
        act, raw, logp = policy.act(row, None)
        assert np.all(act >= (0.0, -1.0)) and np.all(act <= (0.5, 1.0))
        expected = dist.log_prob(torch.as_tensor(raw)[None].expand(32, 2))[i]
        assert logp == pytest.approx(float(expected), abs=1e-4)


def test_dqn_is_greedy_at_epsilon_zero_and_respects_masks_when_exploring():
    torch.manual_seed(0)
    net = QNetwork(5, 4, (16,), "relu")
    tensors = net.policy_tensors()
    greedy = LocalPolicy(ModelSnapshot.freeze(1, tensors, {"epsilon": 0.0}), "DQN", "relu",
                         ActionSpec(n=4), np.random.default_rng(0))
    obs = obs_batch()
    with torch.no_grad():
        q = net(torch.as_tensor(obs)).numpy()
    assert [greedy.act(row, None)[0] for row in obs] == list(q.argmax(axis=1))
    explore = LocalPolicy(ModelSnapshot.freeze(1, tensors, {"epsilon": 1.0}), "DQN", "relu",
                          ActionSpec(n=4), np.random.default_rng(0))
    mask = np.array([False, True, False, True])
    chosen = {explore.act(obs[0], mask)[0] for _ in range(200)}
    assert chosen == {1, 3}
