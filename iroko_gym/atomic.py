"""Atomic file replacement: write a temporary file beside the target, then rename it over the target.

Readers see the old file or the new one, never half of one; on any failure the temporary file is
removed and the target is left as it was. The parent directory is created if missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def atomic_write(
    path: str | os.PathLike[str], writer: Callable[[Path], object], *, mode: int | None = None, fsync: bool = False
) -> Path:
    """Call ``writer(temp path)``, then rename the temp file to ``path``; returns ``path`` as a Path.

    ``mode``: permission bits to set (else the umask's default, as for a plain write).
    ``fsync``: flush the data to disk before the rename, so a crash cannot leave an empty file.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        writer(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", mode: int | None = None, fsync: bool = False
) -> Path:
    """Write ``text`` to ``path`` atomically, without newline translation (see :func:`atomic_write`)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)

    return atomic_write(path, write, mode=mode, fsync=fsync)
