"""Traffic pattern files: CSV (metadata in leading ``# key: value`` lines) and JSON.

Both carry the format tag, name, seed, generator parameters and the flows; the formats are in
``docs/traffic.md``.  Writes are atomic; a bad file is a TraceError naming file, row and field.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from iroko_gym.atomic import atomic_write_text
from iroko_gym.dc.traffic.pattern import Flow, TrafficPattern, unknown_host
from iroko_gym.errors import ConfigError, TraceError


def save_pattern(pattern: TrafficPattern, path: str | os.PathLike[str]) -> None:
    """Write ``pattern`` as CSV or JSON (by extension), atomically: temp file, then rename."""
    path = Path(path)
    text = _to_json(pattern) if _file_format(path) == "json" else _to_csv(pattern)
    atomic_write_text(path, text, mode=0o644, fsync=True)


def load_pattern(path: str | os.PathLike[str], host_names: Collection[str] | None = None) -> TrafficPattern:
    """Read a pattern file; with ``host_names``, a flow naming another host is rejected too."""
    path = Path(path)
    kind = _file_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not a UTF-8 text file ({exc})") from exc
    known = None if host_names is None else list(host_names)
    return (_from_json if kind == "json" else _from_csv)(path, text, known)


FORMAT = "iroko_gym.traffic/1"
FIELDS = ("src", "dst", "start_s", "size_bytes")
_META_KEYS = ("format", "name", "seed", "params")


def _file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"{path}: traffic pattern files end in .csv or .json, not {suffix or 'no extension'!r}")
    return suffix[1:]


def _to_json(pattern: TrafficPattern) -> str:
    head = {"format": FORMAT, "name": pattern.name, "seed": pattern.seed, "params": pattern.params}
    flows = ",\n".join(
        json.dumps({"src": f.src, "dst": f.dst, "start_s": f.start_s, "size_bytes": f.size_bytes}) for f in pattern.flows
    )
    return json.dumps(head)[:-1] + (', "flows": [\n' + flows + "\n]}\n" if flows else ', "flows": []}\n')


def _to_csv(pattern: TrafficPattern) -> str:
    buf = io.StringIO()
    seed = "" if pattern.seed is None else str(pattern.seed)
    buf.write(f"# format: {FORMAT}\n# name: {pattern.name}\n# seed: {seed}\n# params: {json.dumps(pattern.params)}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerows((f.src, f.dst, repr(f.start_s), f.size_bytes) for f in pattern.flows)
    return buf.getvalue()


def _flow(where: str, values: Mapping[str, Any], from_text: bool, known: list[str] | None) -> Flow:
    """One flow from a file row, or TraceError naming ``where`` (file and row) and the field.

    Text fields are parsed here; the values themselves are checked once, by ``Flow``.
    """
    for name in ("src", "dst"):
        if not isinstance(values[name], str) or not values[name].strip():
            raise TraceError(f"{where}, field {name!r}: {values.get(name)!r} is not a host name")
        if known is not None and (problem := unknown_host(values[name].strip(), known)):
            raise TraceError(f"{where}, field {name!r}: {problem}")
    start, size = values["start_s"], values["size_bytes"]
    if from_text:
        start, size = _parse(where, "start_s", start, float), _parse(where, "size_bytes", size, int)
    try:
        return Flow(values["src"].strip(), values["dst"].strip(), start, size)
    except ConfigError as exc:
        raise TraceError(f"{where}: {exc}") from exc


def _parse(where: str, name: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise TraceError(f"{where}, field {name!r}: {text!r} is not {'a number' if kind is float else 'an integer'}") from None


def _from_csv(path: Path, text: str, known: list[str] | None) -> TrafficPattern:
    lines = text.splitlines()
    meta: dict[str, str] = {}
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") or not lines[skip].strip()):
        key, sep, value = lines[skip][1:].partition(":")
        if lines[skip].strip() and (not sep or key.strip() not in _META_KEYS):
            raise TraceError(f"{path}: line {skip + 1}: metadata {lines[skip]!r} is not '# key: value' with key in {list(_META_KEYS)}")
        if sep:
            meta[key.strip()] = value.strip()
        skip += 1
    reader = csv.reader(lines[skip:])
    header = [h.strip() for h in next(reader, [])]
    if tuple(header) != FIELDS:
        raise TraceError(f"{path}: line {skip + 1}: header is {','.join(header)!r}; want {','.join(FIELDS)!r}")
    flows, row = [], 0
    for record in reader:
        if not record:
            continue
        row += 1
        where = f"{path}: row {row} (line {skip + reader.line_num})"
        missing = [name for i, name in enumerate(FIELDS) if i >= len(record) or not record[i].strip()]
        if missing:
            raise TraceError(f"{where}: missing field {missing[0]!r} (want {','.join(FIELDS)})")
        if len(record) > len(FIELDS):
            raise TraceError(f"{where}: has {len(record)} fields; want {len(FIELDS)} ({','.join(FIELDS)})")
        flows.append(_flow(where, dict(zip(FIELDS, record)), True, known))
    return _pattern(path, meta.get("name") or path.stem, _csv_seed(path, meta.get("seed", "")),
                    _csv_params(path, meta.get("params", "")), flows, meta.get("format"))


def _csv_seed(path: Path, text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        raise TraceError(f"{path}: metadata seed {text!r} is not an integer") from None


def _csv_params(path: Path, text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path}: metadata params {text!r} is not JSON ({exc.msg})") from exc


def _from_json(path: Path, text: str, known: list[str] | None) -> TrafficPattern:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("flows"), list):
        raise TraceError(f"{path}: want a JSON object with a 'flows' list")
    extra = sorted(set(doc) - {*_META_KEYS, "flows"})
    if extra:
        raise TraceError(f"{path}: unknown keys {extra}; a pattern has {[*_META_KEYS, 'flows']}")
    flows = []
    for row, item in enumerate(doc["flows"], start=1):
        where = f"{path}: row {row} (flows[{row - 1}])"
        if not isinstance(item, dict):
            raise TraceError(f"{where}: {item!r} is not an object with fields {list(FIELDS)}")
        missing = [name for name in FIELDS if name not in item]
        if missing:
            raise TraceError(f"{where}: missing field {missing[0]!r}")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise TraceError(f"{where}: unknown field {unknown[0]!r}; want {list(FIELDS)}")
        flows.append(_flow(where, item, False, known))
    return _pattern(path, doc.get("name") or path.stem, doc.get("seed"), doc.get("params", {}), flows, doc.get("format"))


def _pattern(path: Path, name: Any, seed: Any, params: Any, flows: list[Flow], fmt: Any) -> TrafficPattern:
    if fmt is not None and fmt != FORMAT:
        raise TraceError(f"{path}: format {fmt!r} is not {FORMAT!r}")
    try:
        return TrafficPattern(name, tuple(flows), seed, params)
    except ConfigError as exc:
        raise TraceError(f"{path}: {exc}") from exc
