"""A lock-step DQN simulator acts on the model trained from its last episode, not older."""

from __future__ import annotations

import gymnasium as gym
import pytest

from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.gym_driver import drive

pytestmark = pytest.mark.integration


def test_dqn_lockstep_starts_each_episode_on_the_newest_version(server, make_config):
    # One gradient step and one published version per transition: every episode moves the
    # learner on by its length, after the reply to the episode's report has been sent.
    config = make_config(server.address, algorithm="DQN", params={
        "learning_starts": 0, "minibatch_size": 1, "train_every_steps": 1,
        "publish_every_updates": 1})
    env = gym.make("CartPole-v1")
    with RemoteAgent(config) as agent:
        episodes = drive(agent, env, 2000, seed=0, stop=lambda eps: len(eps) >= 3)
        held, newest = agent.version, agent.server_metrics().version
    env.close()
    assert len(episodes) == 3
    assert newest > 1 and held == newest
