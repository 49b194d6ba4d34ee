"""The faithful caching Gymnasium environments: ``Cache-v0``, ``Cache-large-v0``, ``Cache-continuous-v0``.

(``Cache-v1``, scaled observations and an outcome reward, is :mod:`iroko_gym.cache.modern`.)
One step, in the order of gym-cache 1.0.3 (see docs/cache.md for the full semantics):

1. the action is the keep mark (or priority) for the access shown in the previous observation;
2. if the cache fill is above the high watermark, files are evicted down to the low watermark;
3. the next access is looked up (a miss is admitted) and returned as the new observation.

The ``guess`` reward scores the action against the access it was about (the *previous*
observation), which is why it looks delayed by one access next to the observation it arrives with.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional, SupportsFloat, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from iroko_gym.cache.core import MAX_CACHE_TB, CacheGeometry, MarkedCache, PriorityCache
from iroko_gym.cache.monitor import EpisodeMonitor
from iroko_gym.cache.policies import next_use
from iroko_gym.cache.rewards import KB_REWARDS, REWARDS, get_reward
from iroko_gym.cache.trace import TraceSource, load_trace
from iroko_gym.cache.warm import WarmStart
from iroko_gym.errors import ActionError, ConfigError, IrokoError, TraceError
from iroko_gym.validate import check_bool, check_choice, check_int, check_known_keys, check_real


class IdleEpisodeWarning(UserWarning):
    """An episode ended without a single eviction: every action was without effect."""


class EpisodeEndedError(IrokoError, RuntimeError):
    """``step()`` was called after the episode's last access; call ``reset()`` first."""


@dataclass(frozen=True)
class CacheEnvConfig:
    """Keyword arguments of the cache environments, validated once."""

    cache_size_tb: float = 10.0
    reward_mode: str = "guess"
    normalize_reward: bool = False  # divide rewards by the trace's largest file size -> [-1, 1]
    hit_cost: float = 0.05  # `cost` mode: a hit costs this fraction of a miss
    high_watermark: float = 0.95
    low_watermark: float = 0.90
    start: int = 0  # first access of an episode (reset option `start` overrides)
    length: Optional[int] = None  # accesses per episode, None = to the end of the trace
    random_window: bool = False  # draw `start` from np_random at every reset (from where the cache is full)
    warm_start: bool = True  # a window starts from the cache LRU leaves after the accesses before it
    monitor_path: Optional[Union[str, os.PathLike]] = None  # parquet per episode; "{episode}" -> its number

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:  # frozen: store the normalised value
            object.__setattr__(self, name, value)

        put("cache_size_tb", check_real("cache_size_tb", self.cache_size_tb, positive=True, high=MAX_CACHE_TB))
        check_choice("reward_mode", self.reward_mode, REWARDS)
        put("normalize_reward", check_bool("normalize_reward", self.normalize_reward))
        put("hit_cost", check_real("hit_cost", self.hit_cost, 0.0, 1.0))
        put("high_watermark", check_real("high_watermark", self.high_watermark, positive=True, high=1.0))
        put("low_watermark", check_real("low_watermark", self.low_watermark, positive=True, high=1.0))
        put("start", check_int("start", self.start, 0))
        if self.length is not None:
            put("length", check_int("length (one step needs two accesses)", self.length, 2))
        put("random_window", check_bool("random_window", self.random_window))
        put("warm_start", check_bool("warm_start", self.warm_start))
        if self.monitor_path is not None and not isinstance(self.monitor_path, (str, os.PathLike)):
            raise ConfigError(
                f"monitor_path={self.monitor_path!r}: must be a file path such as 'runs/ep{{episode}}.parquet'"
            )

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> CacheEnvConfig:
        """Build from ``gymnasium.make`` keyword arguments; misspelled names get a suggestion."""
        check_known_keys("cache env option(s)", kwargs, [f.name for f in fields(cls)] + ["trace"])
        return cls(**kwargs)

    def geometry(self) -> CacheGeometry:
        return CacheGeometry.from_tb(
            self.cache_size_tb, high_watermark=self.high_watermark, low_watermark=self.low_watermark
        )


def decode_mark(action: Any) -> int:
    """A Discrete(2) action as the keep mark; anything but 0/1 is refused."""
    if action == 1:
        return 1
    if action == 0:
        return 0
    raise ActionError(f"action must be 0 (evict first) or 1 (keep), got {action!r}")


def decode_priority(action: Any) -> float:
    """A Box(0, 1, (1,)) action as the keep priority, clipped to [0, 1]; NaN/inf are refused."""
    values = np.asarray(action, dtype=np.float64).reshape(-1)
    if values.size != 1 or not math.isfinite(values[0]):
        raise ActionError(f"action must be one finite priority in [0, 1], got {action!r}")
    return min(1.0, max(0.0, float(values[0])))


class _TraceCacheEnv(gym.Env[np.ndarray, Any]):
    """Shared machinery; subclasses choose the action space, the cache core and the action decoding."""

    metadata = {"render_modes": []}
    _core_class: type[MarkedCache] | type[PriorityCache]
    _decode: Callable[[Any], Any]  # action -> int keep mark (MarkedCache) or float priority (PriorityCache)

    def __init__(self, trace: TraceSource = None, **kwargs: Any) -> None:
        self.config = CacheEnvConfig.from_kwargs(kwargs)
        self.trace = load_trace(trace)
        if len(self.trace) < 2:
            raise TraceError(
                f"trace has {len(self.trace)} access; a cache episode needs at least 2 (reset() shows the first, "
                "each step() looks up the next): give a longer trace"
            )
        self.geometry = self.config.geometry()
        self.geometry.check_fits(int(self.trace.kb.max()))
        self._core = self._core_class(self.geometry)
        self._reward_fn = get_reward(self.config.reward_mode)
        self._scale = self._reward_scale()
        self._hit_cost = float(self.config.hit_cost)
        self._warm = WarmStart(self.trace, self.geometry) if self.config.warm_start else None
        self._window(self.config.start, self.config.length)  # fail at construction, not at reset

        self._kb = self.trace.kb.tolist()
        self._fid = self.trace.fid.tolist()
        self._reused = (next_use(self.trace.fid) < len(self.trace)).tolist()
        self._capacity = self.geometry.capacity_kb
        self.observation_space = self._build_observations()
        self._monitor = EpisodeMonitor(self.config.monitor_path) if self.config.monitor_path else None
        self._pos = self._end = -1
        self._warned_idle = False

    def _reward_scale(self) -> float:
        mode = self.config.reward_mode
        if mode == "byte_hit":
            return 1.0 / float(self.trace.kb.mean())
        return 1.0 / float(self.trace.kb.max()) if self.config.normalize_reward and mode in KB_REWARDS else 1.0

    def _build_observations(self) -> spaces.Box:
        """The original's observation: six tokens, size (kB), fill (percent), as int64."""
        self._rows = np.zeros((len(self.trace), 8), dtype=np.int64)
        self._rows[:, :6] = self.trace.tokens
        self._rows[:, 6] = self.trace.kb
        fill_max = math.floor(100 * (self.geometry.high_kb + self.trace.kb.max()) / self._capacity)
        high = np.concatenate([self.trace.tokens.max(axis=0), [self.trace.kb.max(), fill_max]])
        # an all-zero token column still gets high=1: equal bounds only draw checker warnings
        return spaces.Box(low=0, high=np.maximum(high, 1).astype(np.int64), dtype=np.int64)

    # -- episode ----------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Warm (or empty) the cache and show the first access of the (optionally windowed) episode."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"start", "length"}
        if unknown:
            raise ConfigError(f"unknown reset option(s) {sorted(unknown)}; supported: 'start', 'length'")
        start, self._end = self._window(options.get("start"), options.get("length", self.config.length))
        self._pos = start
        if self._warm is not None and start > 0:
            self._core.load(*self._warm.contents(start))
        else:
            self._core.reset()
        kb = self._kb[start]
        self._hit = self._core.access(self._fid[start], kb)
        self._accesses, self._hits, self._bytes, self._hit_bytes = 1, int(self._hit), kb, kb if self._hit else 0
        if self._monitor is not None:
            self._monitor.start(start)
            self._monitor.record(kb, self._core.used_kb, self._hit, math.nan)
        return self._observe(start), self._info(start)

    def _window(self, start: Any, length: Any) -> tuple[int, int]:
        """(first, one-past-last) access of an episode; validates `start`/`length`."""
        n = len(self.trace)
        length = n if length is None else length
        if not isinstance(length, (int, np.integer)) or not 2 <= length <= n:
            raise ConfigError(f"episode length {length!r} must be an int in [2, {n}] (trace rows)")
        if start is None and self.config.random_window:
            # with warm start, from where the cache has been cleaned once (if the window fits after it)
            first = self._warm.first_clean if self._warm is not None and self._warm.first_clean <= n - length else 0
            start = self.np_random.integers(first, n - length + 1)
        elif start is None:
            start = self.config.start
        if not isinstance(start, (int, np.integer)) or not 0 <= start <= n - length:
            raise ConfigError(f"episode start {start!r} must be an int in [0, {n - length}] for length {length}")
        return int(start), int(start) + int(length)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply the keep decision for the shown access, clean, and show the next access."""
        key = self._decode(action)
        i = self._pos + 1
        if i >= self._end:
            raise EpisodeEndedError(
                f"the episode ended at trace row {self._end - 1}; call reset() before step()"
                if self._end > 0
                else "step() called before reset(); call reset() first"
            )
        shown_kb, shown_hit = self._kb[i - 1], self._hit
        kb = self._kb[i]
        hit = self._core.step(key, self._fid[i], kb)
        mark = 1 if key >= 0.5 else 0
        reward = self._reward_fn(shown_kb, shown_hit, self._reused[i - 1], mark, kb, hit, self._hit_cost) * self._scale
        self._pos, self._hit = i, hit
        self._accesses += 1
        self._bytes += kb
        if hit:
            self._hits += 1
            self._hit_bytes += kb
        terminated = i == self._end - 1
        if self._monitor is not None:
            self._monitor.record(kb, self._core.used_kb, hit, reward)
            if terminated:
                self._monitor.write()
        info = self._info(i)
        if terminated and not self._core.evicted:
            info["no_eviction"] = True
            if not self._warned_idle:
                self._warned_idle = True
                warnings.warn(
                    f"cache episode over trace rows {self._end - info['accesses']}..{i} evicted no file, so no action "
                    f"changed a hit: use {'' if self._warm else 'warm_start=True, '}a later or longer window, or a "
                    "smaller cache_size_tb",
                    IdleEpisodeWarning, stacklevel=2,
                )
        return self._observe(i), reward, terminated, False, info

    def _observe(self, i: int) -> np.ndarray:
        obs = self._rows[i].copy()
        obs[7] = self._core.used_kb * 100 // self._capacity
        return obs

    def _info(self, i: int) -> dict[str, Any]:
        return {
            "access": i,
            "hit": self._hit,
            "file_hit_rate": self._hits / self._accesses,
            "byte_hit_rate": self._hit_bytes / self._bytes,
            "accesses": self._accesses,
            "evictions": self._core.evicted,
        }


class CacheEnv(_TraceCacheEnv):
    """Discrete cache env: action 1 = keep the shown file (evict it last), 0 = evict it first.

    Keyword arguments are the fields of :class:`CacheEnvConfig` plus ``trace`` (a processed parquet
    path or a :class:`~iroko_gym.cache.trace.Trace`; default: the bundled synthetic trace).
    """

    _core_class = MarkedCache
    _decode = staticmethod(decode_mark)

    def __init__(self, trace: TraceSource = None, **kwargs: Any) -> None:
        super().__init__(trace, **kwargs)
        self.action_space = spaces.Discrete(2)


class ContinuousCacheEnv(_TraceCacheEnv):
    """Continuous cache env: action = keep priority in [0, 1]; the lowest priorities are evicted first.

    Defaults to the ``cost`` reward; ``guess`` reads priority >= 0.5 as the mark 1.
    """

    _core_class = PriorityCache
    _decode = staticmethod(decode_priority)

    def __init__(self, trace: TraceSource = None, **kwargs: Any) -> None:
        kwargs.setdefault("reward_mode", "cost")
        super().__init__(trace, **kwargs)
        self.action_space = spaces.Box(low=0.0, high=1.0, shape=(1,), dtype=np.float32)


__all__ = ["CacheEnv", "CacheEnvConfig", "ContinuousCacheEnv", "EpisodeEndedError", "IdleEpisodeWarning"]
