"""The remote actor's trajectories: cut every segment_steps answers, ended cleanly at close()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from iroko_gym.errors import ActionError
from iroko_gym.xcache.actors import NETWORK_SCALE, PolicyActor, RemoteActor


class FakeAgent:
    """RemoteAgent's decision-point API, recording what the actor does with it."""

    class Traj:
        def __init__(self) -> None:
            self.actions: list[Any] = []
            self.ended = False

        def __len__(self) -> int:
            return len(self.actions)

    class Act:
        def __init__(self, obs: np.ndarray, act: int) -> None:
            self.obs, self.act, self.version, self.reward = obs, act, 7, None

        def update_reward(self, reward: float) -> None:
            self.reward = reward

    def __init__(self) -> None:
        self.ended: list[tuple[list[Any], bool, np.ndarray]] = []
        self.closed = False

    def request_for_action(self, traj: Any, obs: np.ndarray) -> tuple[Any, Any]:
        traj = traj if traj is not None and not traj.ended else self.Traj()
        return traj, self.Act(obs, int(obs[0]) % 2)

    def add_to_trajectory(self, traj: Any, action: Any) -> None:
        traj.actions.append(action)

    def mark_end_of_trajectory(self, traj: Any, action: Any, *, truncated: bool, next_obs: Any) -> None:
        if not traj.actions or traj.actions[-1] is not action:
            traj.actions.append(action)
        traj.ended = True
        self.ended.append((list(traj.actions), truncated, next_obs))

    def close(self) -> None:
        self.closed = True

    def stats(self) -> Any:
        class S:
            actions = trajectories_sent = dropped_overflow = dropped_rejected = dropped_at_close = 0
        return S()


def _obs(i: int) -> np.ndarray:
    return np.array([i, 2, 0, 0, 0, 0, 1024**2 * 3, 50], dtype=np.int64)


def test_trajectories_are_cut_every_segment_and_closed_at_the_last_reward() -> None:
    agent = FakeAgent()
    actor = RemoteActor(agent, segment_steps=4)
    for i in range(10):
        if i:
            actor.feedback(float(i), _obs(i))
        keep, version = actor.keep(_obs(i))
        assert keep == i % 2 and version == 7
    assert [len(t) for t, _, _ in agent.ended] == [4, 4]
    first, truncated, following = agent.ended[0]
    assert truncated and [a.reward for a in first] == [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(first[0].obs, _obs(0) * NETWORK_SCALE)  # sizes in GB, fill a fraction
    np.testing.assert_allclose(following, _obs(4) * NETWORK_SCALE)
    actor.close()  # answers 8 (rewarded) and 9 (waiting): the trajectory ends at 8
    last, truncated, following = agent.ended[-1]
    assert [a.reward for a in last] == [9.0] and truncated and agent.closed
    np.testing.assert_allclose(following, _obs(9) * NETWORK_SCALE)


def test_policy_answers_must_be_keep_values() -> None:
    assert PolicyActor(lambda obs: np.int64(1)).keep(_obs(0)) == (1, -1)
    with pytest.raises(ActionError, match="0 or 1"):
        PolicyActor(lambda obs: 2).keep(_obs(0))
