"""Learner checkpoint files: names, atomic writes that leave nothing behind, loading, and the
removal of temporary files an interrupted save left.

A save writes ``.<name>.pt.<pid>.<random>.tmp`` beside the target through a file object this
module opens and closes itself, fsyncs it and renames it over ``<name>.pt``; on any failure
(ENOSPC, EIO ...) the descriptor is closed and the temporary file removed, and the old
checkpoint stays as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from iroko_gym.atomic import atomic_write
from iroko_gym.errors import RemoteError

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\..+\.pt\.(\d+)\.[0-9a-f]+\.tmp$")


def file_stem(client_id: str) -> str:
    """``<readable id>-<hash>``: safe as a file name; the hash keeps distinct ids distinct."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)[:64]
    return f"{readable}-{hashlib.sha1(client_id.encode()).hexdigest()[:10]}"


def checkpoint_path(directory: Path, client_id: str) -> Path:
    return directory / f"{file_stem(client_id)}.pt"


class _Writer:
    """A file torch writes through, keeping the first OSError (torch re-raises it as an
    opaque RuntimeError)."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self._fh.flush()


def _write(tmp: Path, state: dict[str, Any]) -> None:
    with open(tmp, "wb") as fh:  # our descriptor: closed on every path
        writer = _Writer(fh)
        try:
            torch.save(state, writer)
        except Exception as exc:
            if writer.error is not None:
                raise writer.error from exc
            raise


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically and durably; raises OSError/RuntimeError as the
    write did, with nothing left behind."""
    return atomic_write(path, lambda tmp: _write(tmp, state), fsync=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:
        raise RemoteError(f"cannot load checkpoint {path}: {exc}; move it away to start "
                          "this learner afresh") from exc


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Remove the temporary files of saves whose process is gone; returns them."""
    removed = []
    for path in directory.iterdir():
        match = _TEMP.match(path.name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
            log.info("removed %s, left by an interrupted checkpoint", path)
    return removed
