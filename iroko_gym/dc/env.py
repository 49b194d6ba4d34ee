"""``DCEnv``: an RL agent sets every host's sending rate on a real emulated data-center network.

Timing of one step: the interval starts when ``step()`` is called and lasts ``step_interval_ms``;
the action is validated, clipped and applied by the traffic manager at its start (its
acknowledgement is awaited, ``info["apply_latency_s"]``, typically well under a millisecond) and
the returned observation and reward summarise that interval, i.e. the interval during which
this action was in force.  The network is built on the first ``reset()`` (root needed) and reused across
episodes; ``close()`` tears it down and may be called any number of times.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
import weakref
from typing import Any, Callable, Iterator

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from iroko_gym.dc.config import DCConfig
from iroko_gym.dc.measurements import Snapshot
from iroko_gym.dc.rewards import delivered_fraction, make_reward
from iroko_gym.dc.state import ObservationBuilder
from iroko_gym.dc.traffic.patterns import TrafficPattern, generate_pattern
from iroko_gym.errors import ActionError, ConfigError
from iroko_gym.topologies import Topology, make_topology

NetworkFactory = Callable[[Topology, DCConfig], Any]

_LIVE: weakref.WeakSet[DCEnv] = weakref.WeakSet()
_SIGTERM_HOOKED = False
_BUILDING = 0  # networks of this process being built right now (no env holds them yet)


def _close_all() -> None:
    for env in list(_LIVE):
        env.close()


def _on_sigterm(signum: int, frame: object) -> None:
    """Tear every live env down, then die of SIGTERM as the default handler would.

    During a network build there is no network object to close yet: the build is unwound with
    SystemExit instead, and its own cleanup (which catches BaseException, as for Ctrl-C's
    KeyboardInterrupt) removes what it had created.
    """
    _close_all()
    if _BUILDING:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _building() -> Iterator[None]:
    """Mark a network build in progress, for the SIGTERM handler."""
    global _BUILDING
    _BUILDING += 1
    try:
        yield
    finally:
        _BUILDING -= 1


def _hook_process_exit() -> None:
    """Close envs at interpreter exit and on SIGTERM (only if nobody else handles SIGTERM)."""
    global _SIGTERM_HOOKED
    if _SIGTERM_HOOKED:
        return
    _SIGTERM_HOOKED = True
    atexit.register(_close_all)
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: atexit still covers normal exits
        pass


def _emulated_network(topology: Topology, config: DCConfig) -> Any:
    from iroko_gym.dc.network import EmulatedNetwork

    return EmulatedNetwork(topology, config)


class DCEnv(gym.Env[np.ndarray, np.ndarray]):
    """Data-center congestion control; see the module docstring for step timing.

    Keyword arguments are the fields of :class:`~iroko_gym.dc.config.DCConfig`.
    ``network_factory`` replaces the emulated network (tests use ``iroko_gym.dc.fake``).
    """

    metadata = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, network_factory: NetworkFactory | None = None, **kwargs: Any) -> None:
        if render_mode is not None:
            raise ConfigError(f"render_mode={render_mode!r}: DCEnv has no rendering; log info[] instead")
        self.config = cfg = DCConfig.from_kwargs(**kwargs)
        self.topology = make_topology(cfg.topology, **{"capacity_mbps": cfg.capacity_mbps, **cfg.topology_params})
        self._reward_fn = make_reward(cfg.reward)
        host_names = [h.name for h in self.topology.hosts]
        if cfg.pattern_file is not None:
            self._fixed_pattern: TrafficPattern | None = TrafficPattern.load(cfg.pattern_file)
            self._fixed_pattern.validate(host_names)
        else:
            self._fixed_pattern = None
            generate_pattern(cfg.pattern, self.topology.hosts, seed=0, **cfg.pattern_params).validate(host_names)
        self._host_capacity_bps = np.array([self.topology.host_capacity_mbps(h) * 1e6 for h in host_names])
        self._obs_builder = ObservationBuilder(cfg.state_model, [p.local_intf for p in self.topology.ports], host_names)
        self.observation_space = self._obs_builder.space
        self.action_space = spaces.Box(cfg.min_fraction, 1.0, shape=(len(host_names),), dtype=np.float32)
        self._network_factory = network_factory or _emulated_network
        self._network: Any = None
        self._fractions = np.ones(len(host_names))
        self._last_snap: Snapshot | None = None  # what the last step (or reset) measured: warm_up_ms rehearses on it
        self._steps = 0
        self._episode_over = False
        self.current_pattern: TrafficPattern | None = None

    # -- introspection -------------------------------------------------------------------------
    @property
    def layout(self) -> dict[str, list[str]]:
        """Which observation/action index is which port feature or host."""
        return {"observation": self._obs_builder.layout, "action": [h.name for h in self.topology.hosts]}

    @property
    def prefix(self) -> str | None:
        """The per-env name prefix of every link/process once the network is up."""
        return None if self._network is None else self._network.prefix

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        pattern = self._episode_pattern(options or {})
        if self._network is None:
            _hook_process_exit()
            with _building():
                self._network = self._network_factory(self.topology, self.config)
            _LIVE.add(self)
        else:
            self._network.stop_episode()
        episode_dir = self._network.start_episode(pattern)
        self.current_pattern = pattern
        self._fractions = np.ones(len(self._host_capacity_bps))
        latency = self._network.apply_rates(self._rates_bps(self._fractions))
        self._obs_builder.reset()
        self._steps = 0
        self._episode_over = False
        quiet = Snapshot.zeros(len(self.topology.ports), len(self._fractions),
                               queue_limit_bytes=np.array([p.queue_bytes for p in self.topology.ports], dtype=float),
                               port_capacity_bps=np.array([p.capacity_mbps * 1e6 for p in self.topology.ports]),
                               host_capacity_bps=self._host_capacity_bps)
        obs = self._obs_builder.build(quiet, self._fractions)
        self._last_snap = quiet
        info = {"prefix": self._network.prefix, "episode_dir": str(episode_dir), "pattern": pattern.name,
                "num_flows": len(pattern.flows), "apply_latency_s": latency}
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._network is None or self._episode_over:
            raise gym.error.ResetNeeded("call reset() before step() (and after an episode ends)")
        fractions = self._check_action(action)
        if not self.config.rate_control:  # dc-tcp-v0: every host at full capacity whatever the action
            fractions = np.ones_like(fractions)
        t0 = time.monotonic()
        # The window opens before the rates are applied so that it always spans the whole
        # interval, even when applying is slow; the new rates are in force after apply_latency_s.
        self._network.open_window()
        latency = self._network.apply_rates(self._rates_bps(fractions)) if self.config.rate_control else 0.0
        self._fractions = fractions
        deadline = t0 + self.config.step_interval_ms / 1000.0
        if self.config.warm_up_ms:
            self._network.wait_until(deadline - self.config.warm_up_ms / 1000.0)
            self._rehearse(fractions)
            self._network.wait_until(deadline, busy=True)  # a sleep would let the caches go cold again
        else:
            self._network.wait_until(deadline)
        snap = self._network.close_window()
        self._last_snap = snap
        obs = self._obs_builder.build(snap, fractions)
        reward = float(self._reward_fn(snap, fractions))
        self._steps += 1
        terminated = not self._network.traffic_running()
        truncated = not terminated and self._steps >= self.config.max_steps
        info = self._step_info(snap, latency)
        if self.config.socket_stats:
            info["sockets"] = self._network.socket_stats()
        if terminated or truncated:
            self._episode_over = True
            results = self._network.stop_episode()
            info["flows"] = results.summary
            info["flow_rows"] = list(results.rows)
            info["flow_records"] = list(results.records)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        """Tear the network down (traffic, rate control, collectors, links). Idempotent."""
        network, self._network = self._network, None
        if network is not None:
            _LIVE.discard(self)
            network.close()

    # -- helpers -------------------------------------------------------------------------------
    def _episode_pattern(self, options: dict[str, Any]) -> TrafficPattern:
        unknown = set(options) - {"pattern", "pattern_params"}
        if unknown:
            raise ConfigError(f"unknown reset option(s) {sorted(unknown)}; known: ['pattern', 'pattern_params']")
        if self._fixed_pattern is not None and not options:
            return self._fixed_pattern
        name = options.get("pattern", self.config.pattern)
        params = options.get("pattern_params", self.config.pattern_params)
        pattern = generate_pattern(name, self.topology.hosts, seed=int(self.np_random.integers(2**31 - 1)), **params)
        pattern.validate([h.name for h in self.topology.hosts])
        return pattern

    def _check_action(self, action: Any) -> np.ndarray:
        arr = np.asarray(action, dtype=np.float64)
        if arr.shape != self.action_space.shape:
            raise ActionError(f"action has shape {arr.shape}; expected {self.action_space.shape} (one fraction per host)")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raise ActionError(f"action[{i}] (host {self.topology.hosts[i].name}) is {arr[i]}: actions must be finite")
        return np.clip(arr, self.config.min_fraction, 1.0)

    def _rehearse(self, fractions: np.ndarray) -> None:
        """The step's closing work on the last step's measurements, every result thrown away
        (``DCConfig.warm_up_ms``): the same code and kernel paths, run just before they count."""
        snap = self._last_snap
        self._network.warm_up()
        self._obs_builder.build(snap, fractions)  # the snapshot it built last: its d_backlog base stays
        self._reward_fn(snap, fractions)
        self._step_info(snap, 0.0)

    def _rates_bps(self, fractions: np.ndarray) -> np.ndarray:
        return np.maximum(np.rint(fractions * self._host_capacity_bps), 1).astype(np.int64)

    def _step_info(self, snap: Snapshot, latency: float) -> dict[str, Any]:
        return {
            "step": self._steps,
            "interval_s": snap.interval_s,
            "apply_latency_s": latency,
            "action_in_force": "the action of this step, applied before the interval started",
            "applied_rates_bps": self._network.rates_in_force_bps(),
            "host_tx_bps": snap.host_tx_bps,
            "host_rx_bps": snap.host_rx_bps,
            "port_backlog_bytes": snap.port_backlog_bytes,
            "port_backlog_max_bytes": snap.port_backlog_max_bytes,
            "port_drops": snap.port_drops,
            "port_overlimits": snap.port_overlimits,
            "utilisation": float(np.max(snap.port_tx_bps / snap.port_capacity_bps)),
            "delivered_fraction": delivered_fraction(snap),
        }
