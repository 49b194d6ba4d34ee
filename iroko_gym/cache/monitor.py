"""Per-access episode records of a cache environment, written to parquet at episode end."""

from __future__ import annotations

import os
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

    def start(self, first_access: int) -> None:
        """Begin a new episode whose first access is trace row ``first_access``."""
        self.episode += 1
        self._first = first_access
        self._rows = []

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
        target = Path(self.path_template.format(episode=self.episode)).expanduser()
        return write_parquet_atomic(self.frame(), target)
