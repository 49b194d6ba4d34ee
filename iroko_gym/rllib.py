"""Ray RLlib adapter: an env creator per iroko_gym env id, registered with ``ray.tune.register_env``.

RLlib's env config *is* the env's keyword arguments: the creator hands it to ``gymnasium.make``, so
it is validated by the same dataclasses (``DCConfig``, ``CacheEnvConfig``) as any other use.  What
must differ between the envs of a run is derived from RLlib's ``EnvContext``:

* DC envs: ``output_dir`` (flow records, generator logs) becomes ``<output_dir>/w<worker>-v<vector>``;
  without an ``output_dir`` the env's default ``<tmp>/iroko-gym/<prefix>`` is already distinct.
  Name prefixes are claimed uniquely per env by ``iroko_gym.dc.registry``; host addresses live in
  each env's own namespaces, so equal address plans never meet.
* Cache envs: ``monitor_path`` becomes ``<parent>/w<worker>-v<vector>/<name>``.

RLlib's new API stack gives every sub-env of one env runner the same context (``vector_index`` 0),
so a second env made in one process for the same slot gets a ``-<n>`` suffix (``w1-v0-1``); so does
an env whose slot directory already exists (a restarted env runner, a resumed run): records of an
earlier env are never overwritten.

Cleanup: ``EnvRunner.stop()`` (called by ``Algorithm.stop()``) closes every env; an env runner that
exits otherwise closes its DC envs through their ``atexit``/SIGTERM hooks; a SIGKILLed runner leaves
a record under ``/run/iroko_gym`` whose dead owner is reaped by the next DC env start anywhere on the
machine, or at once by :func:`reap_dead_envs` (``examples/run_ray.py`` calls it after Ray shuts down).

Ray is imported only by :func:`register_envs`; the creator itself works without it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import iroko_gym  # noqa: F401  (registers the gymnasium ids)
from iroko_gym.errors import ConfigError, DependencyError
from iroko_gym.validate import did_you_mean

DC_ENTRY = "iroko_gym.dc.env:"
CACHE_ENTRY = "iroko_gym.cache.env:"
# Keys RLlib may add to an env config that are not env options.
_RLLIB_KEYS = ("num_envs",)

_issued_lock = threading.Lock()
_issued: dict[str, int] = {}


def iroko_env_ids() -> list[str]:
    """Every gymnasium id whose entry point is an iroko_gym env."""
    return sorted(i for i, spec in gym.registry.items() if str(spec.entry_point).startswith("iroko_gym."))


def _spec(env_id: str) -> gym.envs.registration.EnvSpec:
    ids = iroko_env_ids()
    if env_id not in ids:
        raise ConfigError(f"env {env_id!r} is not an iroko_gym env{did_you_mean(env_id, ids)}; known: {ids}")
    return gym.spec(env_id)


def is_dc(env_id: str) -> bool:
    """True for the emulated data-center envs (root needed from ``reset()`` on)."""
    return str(_spec(env_id).entry_point).startswith(DC_ENTRY)


def validate_env_config(env_id: str, env_config: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``env_config`` with the env's own config dataclass (as ``gymnasium.make`` would).

    Returns the env options as plain data, so that a bad value fails in the driver before any
    Ray worker starts.
    """
    spec = _spec(env_id)
    options = {k: v for k, v in env_config.items() if k not in _RLLIB_KEYS}
    merged = {**spec.kwargs, **options}
    if is_dc(env_id):
        from iroko_gym.dc.config import DCConfig

        DCConfig.from_kwargs(**merged)
    elif str(spec.entry_point).startswith(CACHE_ENTRY):
        from iroko_gym.cache.env import CacheEnvConfig

        CacheEnvConfig.from_kwargs({k: v for k, v in merged.items() if k != "trace"})
    return options


def slot_dir(root: Path, worker_index: int, vector_index: int) -> Path:
    """``root/w<worker>-v<vector>``, or the next free ``-<n>`` suffix.

    Taken are the paths this process handed out already and those that exist on disk (left by a
    restarted env runner's predecessor or an earlier invocation of a resumed run).
    """
    base = root / f"w{worker_index}-v{vector_index}"
    with _issued_lock:
        n = _issued.get(str(base), 0)
        while (path := base if n == 0 else base.with_name(f"{base.name}-{n}")).exists():
            n += 1
        _issued[str(base)] = n + 1
    return path


def env_kwargs_for(env_id: str, env_config: Mapping[str, Any], worker_index: int, vector_index: int) -> dict[str, Any]:
    """The ``gymnasium.make`` kwargs of one env: ``env_config`` with its per-env paths made distinct."""
    kwargs = validate_env_config(env_id, env_config)
    if is_dc(env_id):
        if kwargs.get("output_dir"):
            kwargs["output_dir"] = str(slot_dir(Path(kwargs["output_dir"]), worker_index, vector_index))
    elif kwargs.get("monitor_path"):
        path = Path(os.fspath(kwargs["monitor_path"]))
        kwargs["monitor_path"] = str(slot_dir(path.parent, worker_index, vector_index) / path.name)
    return kwargs


def create_env(env_id: str, context: Mapping[str, Any]) -> gym.Env:
    """Env creator for RLlib: ``context`` is an ``EnvContext`` (a dict with worker/vector indices).

    Observations that are not float32 (``Cache-v0`` shows int64 tokens and sizes) are cast to
    float32, the dtype RLlib's default torch models take; values are unchanged.
    """
    worker = int(getattr(context, "worker_index", 0))
    vector = int(getattr(context, "vector_index", 0))
    env = gym.make(env_id, **env_kwargs_for(env_id, dict(context), worker, vector))
    space = env.observation_space
    if isinstance(space, gym.spaces.Box) and space.dtype != np.float32:
        env = gym.wrappers.DtypeObservation(env, np.float32)
    return env


def register_envs(env_ids: list[str] | None = None) -> list[str]:
    """Register the creator with Ray under each gymnasium id (default: every iroko_gym id)."""
    try:
        from ray.tune.registry import register_env
    except ImportError as exc:
        raise DependencyError("Ray RLlib is not installed; run `./install.sh --ray` or `pip install .[ray]`") from exc
    ids = iroko_env_ids() if env_ids is None else env_ids
    for env_id in ids:
        _spec(env_id)
        register_env(env_id, functools.partial(create_env, env_id))
    return ids


def reap_dead_envs() -> list[str]:
    """Remove what DC envs of dead processes (e.g. SIGKILLed env runners) left on this machine.

    Live envs, of this run or anyone else's, are never touched.  Returns the reaped prefixes.
    """
    from iroko_gym.dc.registry import RUN_DIR, reap_stale

    if not RUN_DIR.is_dir() or os.geteuid() != 0:
        return []
    return reap_stale()
