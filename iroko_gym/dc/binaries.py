"""Find the helper binaries an environment runs (``iroko-tm``, ``goben``).

Each is looked up the same way: an environment variable naming it explicitly, then the copy
``./install.sh`` builds inside a source checkout, then ``PATH``; a miss is a DependencyError that
says how to build it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from iroko_gym.errors import DependencyError


def find_binary(name: str, env_var: str, repo_path: Path, build_hint: str) -> Path:
    """``$env_var`` (must be executable if set), else ``repo_path`` if built, else ``name`` on PATH.

    ``build_hint`` ends the not-found message, e.g. "run ./install.sh (builds goben/ with go build)".
    """
    override = os.environ.get(env_var)
    if override:
        path = Path(override)
        if not _executable(path):
            raise DependencyError(
                f"{env_var}={override!r} is not an executable file; unset it or point it at a built {name} binary"
            )
        return path
    if _executable(repo_path):
        return repo_path
    found = shutil.which(name)
    if found:
        return Path(found)
    raise DependencyError(f"{name} binary not found (looked at ${env_var}, {repo_path} and PATH); {build_hint}")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
