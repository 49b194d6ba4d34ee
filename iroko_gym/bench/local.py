"""The suite's local controller: one small policy shared by every host, acting on its own rate.

The central PPO (``--ppo-control central``) maps the whole port-by-port observation to every
host's absolute rate; on a traffic matrix it never saw, the loaded ports and their senders are
others, and what it learned does not carry over (docs/results.md).  The local parameterisation
learns a *rule* instead, the way AIMD is one: each sending host sees only what concerns it and
changes its own rate by a factor, and the same weights serve every host, so a pattern is just
another set of hosts applying the rule.

Per host (``FEATURES``, all in [0, 1] except the trend in [-1, 1]), from the env's observation and
the episode's destinations (what a sender knows; the AIMD agent uses the same):

* ``sends``: 1 if the host sends in this episode (hosts that do not are left out of training);
* ``queue``, ``queue_trend``, ``drops``, ``busy``: the largest backlog fraction, backlog growth
  since the last step, drop fraction and egress utilisation over the ports its traffic can cross
  (:func:`iroko_gym.bench.agents.host_paths`);
* ``delivered``: what the host put on the wire in the interval (its switch port's ingress), as a
  fraction of that port's capacity;
* ``rate``: the sending fraction in force.

Action per host: ``a`` in (-1, 1) multiplies the rate by ``2**a`` (halving to doubling per step),
clipped to ``[min_fraction, 1]``.

Reward per host (``HOST_REWARDS``): ``env``, the env's reward, shared by the hosts; or ``host``,
each host's own :func:`host_reward`, read from the features after the step (they measure the
interval its action was in force): ``delivered * (1 - queue / QUEUE_TARGET)``.  A shared reward
does not change when one host starves while another fills the same link, and among many
exploring hosts one host's action moves it by little; the host's own reward pays it for what it
sends at a price set by the queue on its path, as in Kelly's rate control (utility minus rate
times price).  Every host on a link sees the same marginal reward, ``1 - queue / QUEUE_TARGET``:
sending more pays while the queue is below the target and costs above it, whatever the host's
share, so the hosts are driven to the queue AIMD aims at (its ``target``), not to take each
other's share.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from iroko_gym.bench.agents import AimdRule, destinations, host_paths, path_max, port_feature_index
from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import ActionSpec

FEATURES = ("sends", "queue", "queue_trend", "drops", "busy", "delivered", "rate")
SENDS = FEATURES.index("sends")
#: ``env``: the env's reward, shared by the hosts; ``host``: each host's :func:`host_reward`.
HOST_REWARDS = ("env", "host")
#: Queue fraction at which a host's own reward stops paying for sending more: AIMD's target.
QUEUE_TARGET = AimdRule.target
#: One host's action as the learner sees it: the exponent ``a`` of its rate's factor ``2**a``.
AGENT_ACTION = ActionSpec(low=(-1.0,), high=(1.0,))
_PORT_FEATURES = ("backlog", "d_backlog", "drops", "bw_tx", "bw_rx")


def host_reward(features: np.ndarray) -> np.ndarray:
    """Per host (rows of :meth:`HostView.features`): its delivered fraction times ``1 - queue / QUEUE_TARGET``."""
    features = np.asarray(features, dtype=np.float64)
    return features[..., FEATURES.index("delivered")] * (1.0 - features[..., FEATURES.index("queue")] / QUEUE_TARGET)


class HostView:
    """Per-host features from a DCEnv observation, and relative actions back to fractions."""

    def __init__(self, env: Any) -> None:
        self.env = env
        layout = env.layout["observation"]
        missing = [f for f in _PORT_FEATURES if port_feature_index(layout, f) is None]
        if missing:
            raise ConfigError(f"the local controller needs the port features {list(_PORT_FEATURES)} in the env's "
                              f"state_model; missing: {missing}")
        self._idx = {f: port_feature_index(layout, f) for f in _PORT_FEATURES}
        hosts = env.topology.hosts
        facing = {p.peer: i for i, p in enumerate(env.topology.ports)}
        self._own_port = np.array([facing[h.name] for h in hosts], dtype=np.int64)
        self.num_hosts = len(hosts)
        self.min_fraction = float(env.config.min_fraction)
        self._pattern_id: int | None = None
        self._paths: list[np.ndarray] = []
        self._sends = np.zeros(self.num_hosts)

    def _follow_pattern(self) -> None:
        pattern = self.env.current_pattern
        if pattern is None:
            raise ConfigError("local controller: call env.reset() first (it needs the episode's destinations)")
        if id(pattern) == self._pattern_id:
            return
        dests = destinations(pattern)
        self._paths = host_paths(self.env.topology, dests)
        self._sends = np.array([1.0 if h.name in dests else 0.0 for h in self.env.topology.hosts])
        self._pattern_id = id(pattern)

    def features(self, obs: np.ndarray) -> np.ndarray:
        """``(hosts, len(FEATURES))`` float32 matrix for the env observation ``obs``."""
        self._follow_pattern()
        obs = np.asarray(obs, dtype=np.float64)
        port = {f: obs[i] for f, i in self._idx.items()}
        worst = [path_max(port[f], self._paths) for f in ("backlog", "d_backlog", "drops", "bw_tx")]
        out = np.stack([self._sends, *worst, port["bw_rx"][self._own_port], obs[-self.num_hosts:]], axis=1)
        return out.astype(np.float32)

    def fractions(self, obs: np.ndarray, relative: np.ndarray) -> np.ndarray:
        """The fractions to apply: each rate in force times ``2**relative``, within the action box."""
        rates = np.asarray(obs, dtype=np.float64)[-self.num_hosts:]
        scaled = rates * np.exp2(np.clip(np.asarray(relative, dtype=np.float64), -1.0, 1.0))
        return np.clip(scaled, self.min_fraction, 1.0).astype(np.float32)


class LocalControl(gym.Wrapper):
    """The DC env as the local controller sees it: observation ``(hosts, FEATURES)``, action ``(hosts,)`` in [-1, 1]."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.view = HostView(env.unwrapped)
        low = np.zeros((self.view.num_hosts, len(FEATURES)), dtype=np.float32)
        low[:, FEATURES.index("queue_trend")] = -1.0
        self.observation_space = spaces.Box(low, np.ones_like(low), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.view.num_hosts,), dtype=np.float32)
        self._obs: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return self.view.features(obs), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(self.view.fractions(self._obs, action))
        self._obs = obs
        return self.view.features(obs), reward, terminated, truncated, info
