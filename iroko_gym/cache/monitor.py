"""Per-access episode records of a cache environment, written to parquet at episode end."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from iroko_gym.cache.trace import write_parquet_atomic
from iroko_gym.errors import ConfigError

MONITOR_COLUMNS: tuple[str, ...] = ("access", "kB", "cache_kB", "hit", "reward")


class EpisodeMonitor:
    """Collects ``(kB, cache fill kB, hit, reward)`` per access and writes one parquet per episode.

    ``path`` may contain ``{episode}`` (episode number from 0); without it each episode
    overwrites the previous file.  The reset row has reward NaN: no reward is returned there.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = os.fspath(path)
        try:
            path.format(episode=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"monitor_path {path!r} is not a valid template ({exc}); only '{{episode}}' may appear in braces"
            ) from None
        self.path_template = path
        self.episode = -1
        self._first = 0
        self._rows: list[tuple[int, int, bool, float]] = []
        check_writable(self._target(0))  # a bad path fails at make, not at the end of the first episode

    def _target(self, episode: int) -> Path:
        return Path(self.path_template.format(episode=episode)).expanduser()

    def start(self, first_access: int) -> None:
        """Begin a new episode whose first access is trace row ``first_access``; checks its path."""
        self.episode += 1
        self._first = first_access
        self._rows = []
        if "{episode}" in self.path_template and self.episode > 0:
            check_writable(self._target(self.episode))

    def record(self, kb: int, cache_kb: int, hit: bool, reward: float) -> None:
        self._rows.append((kb, cache_kb, hit, reward))

    def frame(self) -> pd.DataFrame:
        """The records so far, one row per access, in trace order."""
        frame = pd.DataFrame(self._rows, columns=list(MONITOR_COLUMNS[1:]))
        frame.insert(0, "access", range(self._first, self._first + len(frame)))
        frame["hit"] = frame["hit"].astype(bool)
        frame["reward"] = frame["reward"].astype(float)
        return frame

    def write(self) -> Path:
        """Write this episode's records (directory created, atomic rename); returns the path."""
        return write_parquet_atomic(self.frame(), self._target(self.episode))


def check_writable(target: Path) -> None:
    """Refuse a file path that cannot be written: a directory, under a file, or in an unwritable place.

    Probes with a temporary file in the nearest existing directory (removed at once), so nothing
    is created or left behind; the parquet's own directories are only made when it is written.
    """
    if target.is_dir():
        example = str(target / "ep{episode}.parquet")
        raise ConfigError(f"monitor_path {str(target)!r} is a directory; give a file such as {example!r}")
    base = target.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConfigError(f"monitor_path {str(target)!r}: {str(base)!r} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".iroko-monitor-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"monitor_path {str(target)!r} cannot be written ({base}: {exc.strerror or exc}); "
            "choose a writable directory"
        ) from exc
