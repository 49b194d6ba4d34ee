"""One live env per output directory: its flow records and logs are never mixed with another's.

The env holds an exclusive ``flock`` on ``<output_dir>/.iroko-owner`` for as long as it lives;
the kernel drops the lock when the holder exits, however it dies, so a stale lock cannot outlive
its env.  Claiming also proves that the directory is writable; a directory the user gave is
claimed before any network is built.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from iroko_gym.errors import ConfigError

LOCK_NAME = ".iroko-owner"


class OutputDirClaim:
    """The claim of one env on its output directory; ``close()`` releases it (idempotent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"output_dir={str(path)!r} cannot be used: {exc.strerror} ({exc.filename}); "
                              "choose a writable directory") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another env"
            os.close(fd)
            raise ConfigError(f"output_dir={str(path)!r} belongs to a live env ({holder}); give each env its own "
                              "output_dir (or None for a per-env default)") from None
        self._fd: int | None = fd
        self.label("an env")

    def label(self, owner: str) -> None:
        """Say who holds the claim, for the error a second env gets."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{owner}, pid {os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the lock; the file stays, harmless, for the next env
