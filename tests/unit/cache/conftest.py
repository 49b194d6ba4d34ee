"""Small hand-built traces for the cache tests."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from iroko_gym.cache.core import KB_PER_TB
from iroko_gym.cache.trace import Trace


def make_trace(fids: Sequence[int], kbs: Sequence[int] | int = 10) -> Trace:
    """A trace reading ``fids`` in order; token 1 of each row is the file id (easy to read back)."""
    n = len(fids)
    sizes = np.full(n, kbs, dtype=np.int64) if isinstance(kbs, int) else np.asarray(kbs, dtype=np.int64)
    tokens = np.zeros((n, 6), dtype=np.int64)
    tokens[:, 0] = fids
    return Trace(time=np.arange(n, dtype=np.float64), tokens=tokens, kb=sizes, fid=np.asarray(fids, dtype=np.int64))


def tb(kb: int) -> float:
    """A cache size in TB that is exactly ``kb`` kB."""
    return kb / KB_PER_TB
