"""From a raw access log to a processed trace, and the command line around it.

Raw log (CSV or parquet): ``time`` (seconds or datetimes), ``scope``, ``dataset``, ``filename``,
``filesize`` (bytes).  Processing: split the dataset name into tokens, drop numeric, short and
production-tag tokens, keep the scope plus the first five remaining tokens, map tokens to integer
ids (0 = empty), number the files, convert sizes to kB (rounded up) and sort by time.  The token
vocabulary is stored inside the trace's parquet metadata (one file, written atomically, so a trace
never exists without its vocabulary or with another's) and can be reused for new logs.

    python -m iroko_gym.cache.pipeline process access_log.csv trace.parquet [--vocab old_trace.parquet]
    python -m iroko_gym.cache.pipeline synth trace.parquet --accesses 30000 --seed 0
    python -m iroko_gym.cache.pipeline vocab trace.parquet   # print the vocabulary as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iroko_gym.atomic import atomic_write
from iroko_gym.cache.synthetic import SyntheticConfig, generate_log
from iroko_gym.cache.trace import MAX_KB, TOKEN_COLUMNS, Trace, plain
from iroko_gym.errors import ConfigError, IrokoError, TraceError

LOG_COLUMNS: tuple[str, ...] = ("time", "scope", "dataset", "filename", "filesize")
MIN_TOKEN_LENGTH = 3
VOCAB_METADATA_KEY = b"iroko_gym.vocabulary"
_SPLIT = re.compile(r"[._\-:/]+")
_NOISE = re.compile(r"^([a-z]{1,3}\d+|\d.*|.*\d{4,}.*)$", re.IGNORECASE)  # tags (r10724), numbers, run ids


def dataset_tokens(scope: str, dataset: str) -> list[str]:
    """The scope plus the first five meaningful tokens of the dataset name (at most six)."""
    name = dataset.removeprefix(scope + ".") if dataset != scope else dataset
    kept = [t for t in _SPLIT.split(name) if len(t) >= MIN_TOKEN_LENGTH and not _NOISE.match(t)]
    return [scope, *kept[: len(TOKEN_COLUMNS) - 1]]


@dataclass
class Vocabulary:
    """Token -> integer id (from 1; 0 means "no token").  New tokens get the next free id."""

    ids: dict[str, int] = field(default_factory=dict)

    def id_of(self, token: str) -> int:
        tid = self.ids.get(token)
        if tid is None:
            tid = self.ids[token] = len(self.ids) + 1
        return tid

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """The vocabulary of a processed trace (its parquet metadata) or of a ``{"tokens": ...}`` JSON file."""
        path = Path(path).expanduser()
        try:
            if path.suffix == ".parquet":
                meta = pq.read_schema(path).metadata or {}
                if VOCAB_METADATA_KEY not in meta:
                    raise KeyError(f"no {VOCAB_METADATA_KEY.decode()!r} metadata (not written by this pipeline)")
                text = meta[VOCAB_METADATA_KEY].decode()
            else:
                text = path.read_text()
            ids = {str(k): int(v) for k, v in json.loads(text)["tokens"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
            raise TraceError(
                f'cannot read vocabulary {str(path)!r}: {exc}; give a trace made by this pipeline or a JSON file '
                '{"tokens": {token: id}}'
            ) from exc
        if sorted(ids.values()) != list(range(1, len(ids) + 1)):
            raise TraceError(f"vocabulary {str(path)!r} ids are not 1..{len(ids)}; was it edited by hand?")
        return cls(ids)

    def to_json(self) -> str:
        return json.dumps({"tokens": self.ids}, indent=0, sort_keys=False)


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """Read a raw log from CSV or parquet (chosen by extension)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TraceError(f"raw log {str(path)!r} does not exist")
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # parser errors come in many types
        raise TraceError(f"cannot read raw log {str(path)!r}: {exc}") from exc


def process_log(log: pd.DataFrame, vocab: Vocabulary | None = None) -> tuple[Trace, Vocabulary]:
    """Turn a raw log into a processed trace; ``vocab`` (if given) is extended, not replaced."""
    vocab = Vocabulary(dict(vocab.ids)) if vocab is not None else Vocabulary()
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        raise TraceError(f"raw log is missing column(s) {missing}; expected {list(LOG_COLUMNS)}")
    if log.empty:
        raise TraceError("raw log has no rows")
    log = log.reset_index(drop=True)
    for col in ("scope", "dataset", "filename"):
        empty = log[col].isna() | (log[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise TraceError(f"raw log column {col!r} row {row} is empty; every access needs {col}")
    size = pd.to_numeric(log["filesize"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~((size > 0) & (size <= MAX_KB * 1024.0)))
    if bad.size:
        row = int(bad[0])
        raise TraceError(
            f"raw log column 'filesize' row {row} is {plain(log['filesize'].iloc[row])!r}; sizes must be bytes "
            f"> 0 and <= {MAX_KB * 1024} (1 PiB)"
        )
    time = _parse_time(log["time"])

    order = np.argsort(time, kind="stable")
    log, time, size = log.iloc[order].reset_index(drop=True), time[order], size[order]
    tokens = np.zeros((len(log), len(TOKEN_COLUMNS)), dtype=np.int64)
    by_dataset: dict[tuple[str, str], list[int]] = {}
    fids: dict[tuple[str, str, str], int] = {}
    fid = np.empty(len(log), dtype=np.int64)
    for row, (scope, dataset, filename) in enumerate(
        zip(log["scope"].astype(str), log["dataset"].astype(str), log["filename"].astype(str), strict=True)
    ):
        ids = by_dataset.get((scope, dataset))
        if ids is None:
            ids = by_dataset[(scope, dataset)] = [vocab.id_of(t) for t in dataset_tokens(scope, dataset)]
        tokens[row, : len(ids)] = ids
        fid[row] = fids.setdefault((scope, dataset, filename), len(fids) + 1)
    kb = np.ceil(size / 1024.0).astype(np.int64)
    return Trace(time=time, tokens=tokens, kb=kb, fid=fid), vocab


def _parse_time(column: pd.Series) -> np.ndarray:
    """Seconds (any numbers) or ISO 8601 date-times; names the first row that is neither."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy()
    parsed = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
    if parsed.notna().all():
        return parsed.dt.tz_localize(None).to_numpy()
    bad = numeric.isna() if numeric.notna().any() else parsed.isna()
    row = int(np.flatnonzero(bad.to_numpy())[0])
    raise TraceError(
        f"raw log column 'time' row {row} is {plain(column.iloc[row])!r}; give seconds or ISO 8601 date-times"
    )


def write_trace(trace: Trace, vocab: Vocabulary, out: str | os.PathLike) -> Path:
    """Write the trace with its vocabulary in the parquet metadata, atomically (temp file + rename)."""
    out = Path(out).expanduser()
    if out.suffix != ".parquet":
        raise ConfigError(f"output {str(out)!r} must end in .parquet")
    table = pa.Table.from_pandas(trace.to_frame())
    metadata = {**(table.schema.metadata or {}), VOCAB_METADATA_KEY: vocab.to_json().encode()}
    table = table.replace_schema_metadata(metadata)
    try:
        return atomic_write(out, lambda tmp: pq.write_table(table, tmp))
    except OSError as exc:
        raise ConfigError(f"cannot write trace {str(out)!r}: {exc.strerror or exc}; choose a writable path") from exc


def write_log(log: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write a raw log as parquet or CSV (by extension), atomically."""
    out = Path(out).expanduser()
    if out.suffix == ".parquet":
        return atomic_write(out, log.to_parquet)
    return atomic_write(out, lambda tmp: log.to_csv(tmp, index=False))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iroko_gym.cache.pipeline",
        description="Build processed cache traces (parquet: index time, columns '1'..'6', 'kB', 'fID').",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    proc = sub.add_parser("process", help="raw access log (CSV/parquet) -> processed trace + vocabulary")
    proc.add_argument("log", help=f"raw log with columns {', '.join(LOG_COLUMNS)} (filesize in bytes)")
    proc.add_argument("out", help="output trace, *.parquet (its vocabulary is stored in the parquet metadata)")
    proc.add_argument(
        "--vocab", help="trace (or vocabulary JSON) whose vocabulary to extend, so token ids stay consistent"
    )
    vocab = sub.add_parser("vocab", help="print the vocabulary stored in a processed trace as JSON")
    vocab.add_argument("trace", help="processed trace, *.parquet")
    synth = sub.add_parser("synth", help="generate a synthetic raw log and process it into a trace")
    synth.add_argument("out", help="output trace, *.parquet")
    synth.add_argument("--raw-out", help="also write the raw synthetic log here (CSV or parquet)")
    for f in fields(SyntheticConfig):
        synth.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, help=f"(default {f.default})"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "vocab":
            print(Vocabulary.load(args.trace).to_json())
            return 0
        if args.command == "process":
            vocab = Vocabulary.load(args.vocab) if args.vocab else None
            trace, vocab = process_log(read_log(args.log), vocab)
        else:
            config = SyntheticConfig(**{f.name: getattr(args, f.name) for f in fields(SyntheticConfig)})
            log = generate_log(config)
            trace, vocab = process_log(log)
            if args.raw_out:
                write_log(log, args.raw_out)
        out = write_trace(trace, vocab, args.out)
    except IrokoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {out} ({len(trace)} accesses, {len(np.unique(trace.fid))} files, "
        f"{len(vocab.ids)} tokens in its vocabulary)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
