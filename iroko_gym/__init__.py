"""iroko_gym: Gymnasium environments that control real systems, measured for real.

Importing the package only registers environment ids (string entry points): nothing heavy
(Mininet, pyroute2, torch, pandas) is imported until an environment is made.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gymnasium.envs.registration import register, registry

# Modules log under "iroko_gym.<subpackage>.<module>"; nothing is printed unless the
# application configures logging (e.g. logging.basicConfig(level=logging.INFO)).
logging.getLogger("iroko_gym").addHandler(logging.NullHandler())

__version__ = "0.1.0"

# a bundled trace whose files fill the 100 TB cache (the default one holds 19.7 TB of distinct files)
_LARGE_TRACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache", "data", "large_trace.parquet")

_ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    # Data-center congestion control on an emulated network (root needed from reset() on).
    "dc-iroko-v0": ("iroko_gym.dc.env:DCEnv", {}),
    # Same network, every host at full link rate: TCP alone does congestion control.
    "dc-tcp-v0": ("iroko_gym.dc.env:DCEnv", {"rate_control": False}),
    # Disk-cache admission/eviction on a file-access trace (the bundled traces by default).
    "Cache-v0": ("iroko_gym.cache.env:CacheEnv", {"cache_size_tb": 10.0}),
    "Cache-large-v0": ("iroko_gym.cache.env:CacheEnv", {"cache_size_tb": 100.0, "trace": _LARGE_TRACE}),
    "Cache-continuous-v0": ("iroko_gym.cache.env:ContinuousCacheEnv", {"cache_size_tb": 10.0}),
    # Scaled features, hit reward, warm random windows (docs/cache.md).
    "Cache-v1": ("iroko_gym.cache.modern:ModernCacheEnv", {"cache_size_tb": 10.0}),
}

for _env_id, (_entry, _kwargs) in _ENVS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry, kwargs=_kwargs)
