"""The service learns: PPO solves CartPole (seeded, fixed budget); DQN improves on it."""

from __future__ import annotations

import gymnasium as gym
import pytest

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import drive, mean_return

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_ppo_learns_cartpole_to_195_within_budget(server, make_config):
    config = make_config(server.address, client_id="cartpole-ppo", params={
        "hidden_sizes": (64, 64), "rollout_steps": 1024, "learning_rate": 3e-4,
        "target_kl": None})
    env = gym.make("CartPole-v1")
    with RemoteAgent(config) as agent:
        episodes = drive(agent, env, 100_000, seed=0,
                         stop=lambda eps: len(eps) >= 100 and mean_return(eps) >= 195)
    env.close()
    assert len(episodes) >= 100 and mean_return(episodes) >= 195, (
        f"mean return {mean_return(episodes):.1f} after {episodes[-1].end_step} steps")
    assert server.metrics().learners[0].stale_dropped == 0  # lock step wastes nothing


def test_dqn_improves_on_random_cartpole(server, make_config):
    config = make_config(server.address, client_id="cartpole-dqn", algorithm="DQN", params={
        "hidden_sizes": (64, 64), "learning_starts": 500, "epsilon_decay_steps": 4000,
        "train_every_steps": 2, "target_update_interval": 200, "publish_every_updates": 50})
    env = gym.make("CartPole-v1")
    with RemoteAgent(config) as agent:
        episodes = drive(agent, env, 8000, seed=0)
        epsilon = agent.snapshot.scalars["epsilon"]
    env.close()
    assert epsilon < 0.2  # the schedule reached the client through the model
    first = [e.ret for e in episodes[:20]]
    assert mean_return(episodes, 10) > 2 * sum(first) / len(first)
