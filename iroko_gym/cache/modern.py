"""``Cache-v1``: the cache env for neural networks, beside the faithful ``-v0`` ids.

Differences from ``Cache-continuous-v0`` (same cache core: keep priority in [0, 1], lowest first):

* observations are eight float32 features in [0, 1] (:data:`FEATURES`), derived from the trace's
  history up to the shown access (what a live cache can count) and the cache state;
* the reward is the cache's outcome: 1 when the access looked up by the step is a hit
  (``reward_mode="byte_hit"``: its size in mean file sizes);
* episodes are warm windows of 2 000 accesses drawn at random from where the cache is full.

The trace-derived features are computed once per env with numpy (no pandas per step).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from iroko_gym.cache.env import ContinuousCacheEnv
from iroko_gym.cache.policies import next_use
from iroko_gym.cache.trace import MAX_KB, Trace, TraceSource

# Fixed scales (not per trace), so that a model trained on one trace reads another the same way.
SIZE_SCALE = math.log1p(MAX_KB)  # the largest size a trace may hold
COUNT_SCALE = math.log1p(10**6)  # reads of a file or dataset; capped at 1
GAP_SCALE = math.log1p(10**7)  # accesses between two reads; capped at 1, and 1 on a first read

FEATURES: tuple[str, ...] = (
    "size",  # log1p(kB) / log1p(2**40)
    "hit",  # 1 if the shown access was a hit
    "file_count",  # log1p(reads of this file so far, this one included) / log1p(10**6)
    "file_gap",  # log1p(accesses since this file's previous read) / log1p(10**7); 1 on a first read
    "dataset_count",  # as file_count, for the dataset (the six tokens)
    "dataset_gap",  # as file_gap, for the dataset
    "file_share",  # file_count / dataset_count
    "fill",  # cache fill / capacity, capped at 1
)
V1_DEFAULTS: dict[str, Any] = {"reward_mode": "hit", "length": 2000, "random_window": True, "warm_start": True}


def trace_features(trace: Trace) -> np.ndarray:
    """The (n, 8) float32 feature table of a trace; the ``hit`` and ``fill`` columns are left 0."""
    _, dataset = np.unique(trace.tokens, axis=0, return_inverse=True)
    file_count, file_gap = _count_and_gap(trace.fid)
    ds_count, ds_gap = _count_and_gap(dataset.reshape(-1))
    table = np.zeros((len(trace), len(FEATURES)), dtype=np.float32)
    table[:, 0] = np.log1p(trace.kb) / SIZE_SCALE
    table[:, 2] = np.minimum(np.log1p(file_count) / COUNT_SCALE, 1.0)
    table[:, 3] = np.where(file_gap > 0, np.minimum(np.log1p(file_gap) / GAP_SCALE, 1.0), 1.0)
    table[:, 4] = np.minimum(np.log1p(ds_count) / COUNT_SCALE, 1.0)
    table[:, 5] = np.where(ds_gap > 0, np.minimum(np.log1p(ds_gap) / GAP_SCALE, 1.0), 1.0)
    table[:, 6] = file_count / ds_count
    return table


def _count_and_gap(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per access: reads of ``key`` so far (this one included) and accesses since its previous read (0 if none)."""
    n = len(key)
    rows = np.arange(n)
    order = np.lexsort((rows, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    group_start = np.flatnonzero(first)[np.cumsum(first) - 1]
    count = np.empty(n, dtype=np.int64)
    count[order] = np.arange(n) - group_start + 1
    nxt = next_use(key)
    previous = np.full(n, -1, dtype=np.int64)
    has_next = nxt < n
    previous[nxt[has_next]] = rows[has_next]
    return count, np.where(previous >= 0, rows - previous, 0)  # 0: no previous read


class ModernCacheEnv(ContinuousCacheEnv):
    """``Cache-v1``: keep priority in [0, 1] (lowest evicted first), scaled features, hit reward, warm windows.

    Keyword arguments are those of the ``-v0`` envs (see docs/cache.md) with the defaults of
    :data:`V1_DEFAULTS`; a constant priority 0.5 replays LRU exactly, as the warm cache holds
    its files at 0.5.
    """

    def __init__(self, trace: TraceSource = None, **kwargs: Any) -> None:
        super().__init__(trace, **{**V1_DEFAULTS, **kwargs})

    def _build_observations(self) -> spaces.Box:
        self._rows = trace_features(self.trace)
        return spaces.Box(low=0.0, high=1.0, shape=(len(FEATURES),), dtype=np.float32)

    def _observe(self, i: int) -> np.ndarray:
        obs = self._rows[i].copy()
        obs[1] = self._hit
        obs[7] = min(1.0, self._core.used_kb / self._capacity)
        return obs


__all__ = ["COUNT_SCALE", "FEATURES", "GAP_SCALE", "SIZE_SCALE", "ModernCacheEnv", "V1_DEFAULTS", "trace_features"]
