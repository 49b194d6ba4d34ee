"""Modern eviction policies from libCacheSim (ARC, S3-FIFO, SIEVE, LHD) replayed on a trace.

libCacheSim's caches evict only what does not fit (no watermarks), so they run with the capacity
of the high watermark, the most our cache holds between cleanings; ``lru-lcs`` (libCacheSim's
LRU under the same rule) shows how far that cache model is from ours (``lru``).  libCacheSim is
a test dependency (``pip install -e .[test]``); without it these names raise DependencyError.
"""

from __future__ import annotations

import time

import numpy as np

from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.policies import ReplayResult
from iroko_gym.cache.trace import Trace
from iroko_gym.errors import DependencyError
from iroko_gym.validate import check_choice

LCS_POLICIES: dict[str, str] = {"arc": "ARC", "s3fifo": "S3FIFO", "sieve": "Sieve", "lhd": "LHD", "lru-lcs": "LRU"}


def lcs_replay(policy: str, trace: Trace, geometry: CacheGeometry) -> ReplayResult:
    """Run libCacheSim's ``policy`` over the whole trace from an empty cache."""
    name = check_choice("policy", policy, LCS_POLICIES)
    try:
        import libcachesim
    except ImportError as exc:
        raise DependencyError(
            f"policy {name!r} needs libCacheSim: pip install 'libcachesim>=0.3.5,<0.4' (or -e .[test])"
        ) from exc
    geometry.check_fits(int(trace.kb.max()))
    cache = getattr(libcachesim, LCS_POLICIES[name])(cache_size=int(geometry.high_kb))
    hits = np.zeros(len(trace), dtype=bool)
    req = libcachesim.Request()
    began = time.perf_counter()
    for i, (fid, kb) in enumerate(zip(trace.fid.tolist(), trace.kb.tolist(), strict=True)):
        req.obj_id, req.obj_size, req.clock_time = fid, kb, i
        hits[i] = cache.get(req)
    return ReplayResult(name, hits, trace.kb, time.perf_counter() - began)
