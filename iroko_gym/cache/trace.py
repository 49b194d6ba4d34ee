"""Processed access traces: validated once on load, then held as numpy arrays.

The on-disk format is the processed parquet of the original XCache study: the index is the access
time (sorted), columns ``'1'``..``'6'`` are integer filename tokens (0 = empty), ``'kB'`` is the
file size in kB and ``'fID'`` a file id.  Everything the environments and policies touch per
access is converted here, so no pandas code runs in a hot loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from iroko_gym.atomic import atomic_write
from iroko_gym.errors import TraceError

TOKEN_COLUMNS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6")
SIZE_COLUMN = "kB"
FILE_ID_COLUMN = "fID"
TRACE_COLUMNS: tuple[str, ...] = TOKEN_COLUMNS + (SIZE_COLUMN, FILE_ID_COLUMN)

DEFAULT_TRACE_NAME = "default_trace.parquet"
# Largest file size accepted (1 PiB in kB): with it, sums of sizes over any trace fit in int64.
MAX_KB = 2**40
_INT64_LIMIT = 2.0**63  # floats at or beyond this do not convert to int64

TraceSource = Union[str, os.PathLike, "Trace", None]


def default_trace_path() -> Path:
    """Path of the bundled synthetic trace, resolved from the installed package (never the cwd)."""
    return Path(str(resources.files("iroko_gym.cache") / "data" / DEFAULT_TRACE_NAME))


@dataclass(frozen=True, eq=False)
class Trace:
    """A time-ordered sequence of file accesses.

    ``tokens`` is ``(n, 6)`` int64, ``kb``/``fid`` are ``(n,)`` int64 and ``time`` holds the index
    values (numbers or datetimes).  Construction validates shapes and values.
    """

    time: np.ndarray
    tokens: np.ndarray
    kb: np.ndarray
    fid: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.kb)
        if n == 0:
            raise TraceError("trace has no accesses; give a trace with at least two rows")
        if self.tokens.shape != (n, len(TOKEN_COLUMNS)):
            raise TraceError(f"tokens must have shape ({n}, 6), got {self.tokens.shape}")
        if self.fid.shape != (n,) or self.time.shape != (n,):
            raise TraceError(f"time, kB and fID must all have {n} rows")
        _check_positive(self.kb, SIZE_COLUMN, "file sizes must be > 0 kB")
        huge = np.flatnonzero(self.kb > MAX_KB)
        if huge.size:
            row = int(huge[0])
            raise TraceError(
                f"column {SIZE_COLUMN!r} row {row} has value {plain(self.kb[row])!r}: file sizes must be "
                f"<= {MAX_KB} kB (1 PiB); is the column in bytes instead of kB?"
            )
        if self.tokens.min() < 0:
            row, col = np.argwhere(self.tokens < 0)[0]
            raise TraceError(
                f"column {TOKEN_COLUMNS[col]!r} row {row}: token {plain(self.tokens[row, col])} is "
                "negative; token ids are >= 0 (0 = empty)"
            )
        missing = np.isnat(self.time) if np.issubdtype(self.time.dtype, np.datetime64) else pd.isna(self.time)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise TraceError(f"index (access time) row {row} is missing (NaN/NaT); every access needs a time")
        decreasing = np.flatnonzero(self.time[1:] < self.time[:-1])
        if decreasing.size:
            row = int(decreasing[0]) + 1
            raise TraceError(
                f"index (access time) is not sorted: row {row} ({self.time[row]}) comes before "
                f"row {row - 1} ({self.time[row - 1]}); sort the trace by time "
                "(the pipeline does this)"
            )

    def __len__(self) -> int:
        return len(self.kb)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Trace:
        """Validate a processed-trace DataFrame and convert it to arrays."""
        missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
        if missing:
            raise TraceError(
                f"trace is missing column(s) {missing}; expected {list(TRACE_COLUMNS)} "
                "(produce it with `python -m iroko_gym.cache.pipeline process`)"
            )
        tokens = np.stack([_int_column(frame, c) for c in TOKEN_COLUMNS], axis=1)
        return cls(
            time=frame.index.to_numpy(),
            tokens=tokens,
            kb=_int_column(frame, SIZE_COLUMN),
            fid=_int_column(frame, FILE_ID_COLUMN),
        )

    def to_frame(self) -> pd.DataFrame:
        """The trace in its on-disk layout."""
        data = {c: self.tokens[:, i] for i, c in enumerate(TOKEN_COLUMNS)}
        data[SIZE_COLUMN] = self.kb
        data[FILE_ID_COLUMN] = self.fid
        return pd.DataFrame(data, index=pd.Index(self.time, name="time"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trace as parquet atomically (temp file + rename); returns the path."""
        return write_parquet_atomic(self.to_frame(), path)


def load_trace(source: TraceSource = None) -> Trace:
    """Load a trace from a parquet path, pass a ``Trace`` through, or load the bundled default."""
    if isinstance(source, Trace):
        return source
    path = default_trace_path() if source is None else Path(source).expanduser()
    if not path.is_file():
        raise TraceError(
            f"trace file {str(path)!r} does not exist; pass trace=<path to a processed .parquet> "
            "or omit it to use the bundled default trace"
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise TraceError(f"cannot read trace {str(path)!r} as parquet: {exc}") from exc
    try:
        return Trace.from_frame(frame)
    except TraceError as exc:
        raise TraceError(f"{path}: {exc}") from None


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` atomically (directory created); returns the path."""
    return atomic_write(path, frame.to_parquet)


def _int_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as int64; floats are accepted only when every value is a whole number."""
    values = frame[name].to_numpy()
    if np.issubdtype(values.dtype, np.unsignedinteger) and values.size and values.max() >= _INT64_LIMIT:
        row = int(np.argmax(values))
        raise TraceError(f"column {name!r} row {row} has value {plain(values[row])!r}, beyond 2**63 - 1 (int64)")
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64, copy=False)
    if np.issubdtype(values.dtype, np.floating):
        nan = np.flatnonzero(np.isnan(values))
        if nan.size:
            raise TraceError(
                f"column {name!r} row {int(nan[0])} (index {plain(frame.index[nan[0]])!r}) is NaN; "
                "fill empty tokens with 0 and drop rows without size or file id"
            )
        big = np.flatnonzero(~(np.abs(values) < _INT64_LIMIT))
        if big.size:
            raise TraceError(
                f"column {name!r} row {int(big[0])} has value {plain(values[big[0]])!r}, which is not a "
                "64-bit integer (infinite or beyond 2**63); tokens, kB and fID must be whole numbers that fit int64"
            )
        frac = np.flatnonzero(values != np.floor(values))
        if frac.size:
            raise TraceError(
                f"column {name!r} row {int(frac[0])} has non-integer value {plain(values[frac[0]])!r}; "
                "tokens, kB and fID must be whole numbers (round kB up)"
            )
        return values.astype(np.int64)
    raise TraceError(
        f"column {name!r} has dtype {values.dtype}, expected integers; convert it "
        f"(e.g. `df[{name!r}] = df[{name!r}].astype('int64')`)"
    )


def plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so error messages read ``-5`` not ``np.int64(-5)``."""
    return value.item() if isinstance(value, np.generic) else value


def _check_positive(values: np.ndarray, name: str, why: str) -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise TraceError(f"column {name!r} row {int(bad[0])} has value {plain(values[bad[0]])!r}: {why}")
