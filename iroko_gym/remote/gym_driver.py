"""Drive a Gymnasium environment as a remote client — the loop a real system runs inline.

Used by the examples, tests and benchmark. A simulator can outrun the learner; ``lockstep``
makes it wait for the learner (PPO: for the next version once a rollout has been sent; DQN:
until the learner has consumed each finished trajectory, then for the model it trained from
it). Those lock-step waits, :func:`wait_for_model` and :func:`wait_for_learner`, are for
simulators and for systems that can pause: a real system that cannot just acts, and stale data
is counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from iroko_gym.errors import RemoteError
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.config import ClientConfig, algorithm_params, spaces_from_gym
from iroko_gym.validate import check_int

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Episode:
    """One finished episode: environment steps done so far, its return and length."""

    end_step: int
    ret: float
    length: int


def wait_for_model(agent: RemoteAgent, newer_than: int, timeout: float = 60.0,
                   poll_s: float = 0.01) -> bool:
    """Flush, then wait until a model newer than ``newer_than`` is local; False on timeout.
    For simulators that outrun an on-policy learner."""
    deadline = time.monotonic() + timeout
    if not agent.flush(timeout):
        return False
    while agent.version <= newer_than:
        if time.monotonic() >= deadline:
            return False
        try:
            agent.refresh_model()
        except RemoteError as exc:
            log.debug("waiting for a model newer than %d: %s", newer_than, exc)
        if agent.version <= newer_than:
            time.sleep(poll_s)
    return True


def wait_for_learner(agent: RemoteAgent, timeout: float = 60.0, poll_s: float = 0.01) -> bool:
    """Flush, then wait until the learner has consumed everything; False on timeout.
    Lets a simulator run in lock step with an off-policy learner."""
    deadline = time.monotonic() + timeout
    if not agent.flush(timeout):
        return False
    while agent.server_metrics().queued > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def config_for_env(env: Any, *, client_id: str, algorithm: str, params: dict[str, Any],
                   server_address: str, seed: int = 0, **fields: Any) -> ClientConfig:
    """A client config whose spaces are the environment's; ``seed`` seeds local sampling
    (the learner's seed is ``params["seed"]``, which processes sharing an id must agree on)."""
    obs_size, action = spaces_from_gym(env.observation_space, env.action_space)
    return ClientConfig(client_id=client_id, algorithm=algorithm, observation_size=obs_size,
                        action=action, params=algorithm_params(algorithm, params),
                        server_address=server_address, seed=seed, **fields)


def drive(agent: RemoteAgent, env: Any, steps: int, *, seed: int | None = 0,
          lockstep: bool = True, segment_steps: int | None = None,
          stop: Callable[[list[Episode]], bool] | None = None,
          wait_timeout_s: float = 120.0) -> list[Episode]:
    """Run ``env`` for ``steps`` steps with actions from ``agent``; returns the episodes.

    ``segment_steps`` cuts long episodes into trajectories of that many steps (marked
    truncated, with the next observation to bootstrap from). ``stop`` ends the run early.
    """
    steps = check_int("steps", steps, 1, error=RemoteError)
    params = agent.config.params
    rollout = getattr(params, "rollout_steps", None)
    episodes: list[Episode] = []
    obs, _ = env.reset(seed=seed)
    traj = None
    ret, length, since_version = 0.0, 0, 0
    for step in range(1, steps + 1):
        traj, action = agent.request_for_action(traj, obs)
        obs, reward, terminated, truncated, _ = env.step(action.act)
        action.update_reward(float(reward))
        ret += float(reward)
        length += 1
        since_version += 1
        done = terminated or truncated
        segment_full = segment_steps is not None and len(traj) + 1 >= segment_steps
        if not (done or segment_full or step == steps):
            agent.add_to_trajectory(traj, action)
            continue
        agent.mark_end_of_trajectory(traj, action, truncated=not terminated,
                                     next_obs=np.asarray(obs, dtype=np.float32))
        if done:
            episodes.append(Episode(step, ret, length))
            ret, length = 0.0, 0
            obs, _ = env.reset()
        if lockstep and step < steps:
            if rollout is None:
                ok = wait_for_learner(agent, wait_timeout_s)
                if ok:  # the report's reply carried the model from before this training
                    agent.refresh_model()
            elif since_version >= rollout:
                ok = wait_for_model(agent, traj.version, wait_timeout_s)
                since_version = 0
            else:
                ok = True
            if not ok:
                raise RemoteError(f"the learner did not catch up within {wait_timeout_s} s; "
                                  f"last client error: {agent.stats().last_error or 'none'}")
        if stop is not None and done and stop(episodes):
            break
    return episodes


def mean_return(episodes: list[Episode], window: int = 100) -> float:
    """Mean return of the last ``window`` episodes (nan before any episode)."""
    tail = episodes[-window:]
    return float(np.mean([e.ret for e in tail])) if tail else float("nan")
