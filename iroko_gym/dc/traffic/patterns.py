"""Traffic patterns: who sends to whom, generated from parameters and a seed, saved as files.

``generate_pattern("incast", topo.hosts, seed=1)`` returns an immutable :class:`TrafficPattern`
(a tuple of :class:`Flow`).  Patterns see hosts only through ``HostSpec.name/.pod/.edge``, so
they work on any topology that fills those in; "same edge" means same ``(pod, edge)``.  Every
random choice comes from one ``numpy.random.Generator`` seeded with ``seed``: the same seed gives
the same pattern.  Flow sizes and Poisson arrivals come from :mod:`.workloads`.  File formats
and each pattern's rule are in ``docs/traffic.md``.
"""

from __future__ import annotations

import csv
import difflib
import inspect
import io
import json
import math
import os
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from iroko_gym.atomic import atomic_write_text
from iroko_gym.dc.traffic.workloads import Workload
from iroko_gym.errors import ConfigError, TraceError
from iroko_gym.topologies.base import HostSpec


@dataclass(frozen=True)
class Flow:
    """One flow from host ``src`` to host ``dst`` (local names such as ``"h1"``).

    ``start_s`` is the offset from the start of the episode's traffic; ``size_bytes == 0`` means
    long-lived (the flow runs until the traffic ends).
    """

    src: str
    dst: str
    start_s: float = 0.0
    size_bytes: int = 0

    def __post_init__(self) -> None:
        for side in ("src", "dst"):
            value = getattr(self, side)
            if not isinstance(value, str) or not value.strip() or value != value.strip():
                raise ConfigError(f"flow {side}={value!r}: must be a host name without surrounding spaces")
        if self.src == self.dst:
            raise ConfigError(f"flow {self.src}->{self.dst}: a host cannot send to itself")
        start = self.start_s
        if isinstance(start, bool) or not isinstance(start, (int, float, np.integer, np.floating)) or not np.isfinite(start) or start < 0:
            raise ConfigError(f"flow {self.src}->{self.dst}: start_s={start!r} must be a finite number >= 0")
        size = self.size_bytes
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ConfigError(f"flow {self.src}->{self.dst}: size_bytes={size!r} must be an integer >= 0 (0 = long-lived)")
        object.__setattr__(self, "start_s", float(start))
        object.__setattr__(self, "size_bytes", int(size))


@dataclass(frozen=True)
class TrafficPattern:
    """A named, seeded set of flows plus the parameters that generated it (JSON-compatible)."""

    name: str
    flows: tuple[Flow, ...]
    seed: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name.splitlines()) != 1:
            raise ConfigError(f"traffic pattern name {self.name!r}: must be a non-empty one-line string")
        flows = tuple(self.flows)
        bad = next((f for f in flows if not isinstance(f, Flow)), None)
        if bad is not None:
            raise ConfigError(f"traffic pattern {self.name!r}: {bad!r} is not a Flow")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0):
            raise ConfigError(f"traffic pattern {self.name!r}: seed={self.seed!r} must be None or an integer >= 0")
        object.__setattr__(self, "flows", flows)
        object.__setattr__(self, "seed", None if self.seed is None else int(self.seed))
        object.__setattr__(self, "params", _json_params(self.name, self.params))

    @property
    def senders(self) -> tuple[str, ...]:
        """Hosts that send at least one flow, in order of first appearance."""
        return tuple(dict.fromkeys(f.src for f in self.flows))

    @property
    def receivers(self) -> tuple[str, ...]:
        """Hosts that receive at least one flow, in order of first appearance."""
        return tuple(dict.fromkeys(f.dst for f in self.flows))

    def validate(self, host_names: Collection[str]) -> None:
        """Raise ConfigError if a flow names a host outside ``host_names`` (with a suggestion)."""
        known = list(host_names)
        for i, flow in enumerate(self.flows):
            for side in ("src", "dst"):
                problem = _unknown_host(getattr(flow, side), known)
                if problem:
                    raise ConfigError(f"traffic pattern {self.name!r}: flow #{i + 1} ({flow.src}->{flow.dst}) {side}: {problem}")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the pattern as CSV or JSON (by extension), atomically: temp file, then rename."""
        path = Path(path)
        text = _to_json(self) if _file_format(path) == "json" else _to_csv(self)
        atomic_write_text(path, text, mode=0o644, fsync=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str], host_names: Collection[str] | None = None) -> TrafficPattern:
        """Read a pattern written by :meth:`save` (or by hand); TraceError names file, row, field.

        With ``host_names``, a flow naming another host is rejected too.
        """
        path = Path(path)
        kind = _file_format(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TraceError(f"{path}: not a UTF-8 text file ({exc})") from exc
        known = None if host_names is None else list(host_names)
        return (_from_json if kind == "json" else _from_csv)(path, text, known)


def _json_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as plain JSON values (tuples become lists) so that saved files compare equal."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"traffic pattern {name!r}: params {params!r} must be a mapping")
    try:
        return json.loads(json.dumps(dict(params), default=_numpy_scalar, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"traffic pattern {name!r}: params {dict(params)!r} must be JSON values ({exc})") from exc


def _numpy_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a JSON value")


# --- files: CSV (metadata in leading "# key: value" lines) and JSON ------------------------

FORMAT = "iroko_gym.traffic/1"
FIELDS = ("src", "dst", "start_s", "size_bytes")
_META_KEYS = ("format", "name", "seed", "params")


def _file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"{path}: traffic pattern files end in .csv or .json, not {suffix or 'no extension'!r}")
    return suffix[1:]


def _unknown_host(name: str, known: list[str]) -> str | None:
    """None if ``name`` is a known host, else a message with a suggestion."""
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)  # short names: "h9" ~ "h1"
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown host {name!r}{hint}; hosts are {shown}"


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
    """One flow from a file row, or TraceError naming ``where`` (file and row) and the field."""

    def bad(name: str, msg: str) -> TraceError:
        return TraceError(f"{where}, field {name!r}: {values.get(name)!r} {msg}")

    for name in ("src", "dst"):
        if not isinstance(values[name], str) or not values[name].strip():
            raise bad(name, "is not a host name")
        if known is not None and (problem := _unknown_host(values[name].strip(), known)):
            raise TraceError(f"{where}, field {name!r}: {problem}")
    start, size = values["start_s"], values["size_bytes"]
    try:
        start = float(start) if from_text else start
    except ValueError:
        raise bad("start_s", "is not a number") from None
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start) or start < 0:
        raise bad("start_s", "is not a finite number >= 0")
    try:
        size = int(size) if from_text else size
    except ValueError:
        raise bad("size_bytes", "is not an integer") from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise bad("size_bytes", "is not an integer >= 0 (0 = long-lived)")
    try:
        return Flow(values["src"].strip(), values["dst"].strip(), start, size)
    except ConfigError as exc:
        raise TraceError(f"{where}: {exc}") from exc


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


# --- the patterns: (hosts, rng, **params) -> [(src, dst), ...] ------------------------------

Pairs = list[tuple[str, str]]


def _others(hosts: Sequence[HostSpec], me: HostSpec) -> list[HostSpec]:
    return [h for h in hosts if h.name != me.name]


def _pick(rng: np.random.Generator, hosts: Sequence[HostSpec]) -> HostSpec:
    return hosts[int(rng.integers(len(hosts)))]


def incast(hosts: Sequence[HostSpec], rng: np.random.Generator, *, receivers: int = 1, senders: int | None = None,
           cross_pod: bool | None = None, receiver_pod: int | None = None) -> Pairs:
    """Many senders to ``receivers`` hosts (sender i -> receiver i mod ``receivers``).

    Receivers are the lowest-index hosts of ``receiver_pod`` (default: the highest pod).  With
    ``cross_pod`` (default: whenever there is more than one pod) senders come only from other
    pods, so every flow crosses the bottleneck: on the dumbbell, all left hosts -> the first
    right host.  ``senders`` (default: all eligible) picks that many eligible senders at random.
    """
    pods = sorted({h.pod for h in hosts})
    pod = pods[-1] if receiver_pod is None else receiver_pod
    if pod not in pods:
        raise ConfigError(f"incast receiver_pod={receiver_pod!r}: no host is in that pod; pods are {pods}")
    in_pod = [h for h in hosts if h.pod == pod]
    _count("incast receivers", receivers, 1, len(in_pod))
    rx = in_pod[:receivers]
    cross = len(pods) > 1 if cross_pod is None else bool(cross_pod)
    eligible = [h for h in hosts if h not in rx and (not cross or h.pod != pod)]
    if not eligible:
        raise ConfigError(f"incast: no eligible sender (cross_pod={cross}, receivers={[h.name for h in rx]})")
    if senders is not None:
        _count("incast senders", senders, 1, len(eligible))
        keep = np.sort(rng.choice(len(eligible), size=senders, replace=False))
        eligible = [eligible[int(i)] for i in keep]
    return [(h.name, rx[i % len(rx)].name) for i, h in enumerate(eligible)]


def stride(hosts: Sequence[HostSpec], rng: np.random.Generator, *, stride: int = 1) -> Pairs:
    """Host i -> host (i + stride) mod N, in host order."""
    n = len(hosts)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride % n == 0:
        raise ConfigError(f"stride={stride!r}: must be an integer that is not a multiple of the {n} hosts")
    return [(h.name, hosts[(i + int(stride)) % n].name) for i, h in enumerate(hosts)]


def staggered(hosts: Sequence[HostSpec], rng: np.random.Generator, *, p_edge: float = 0.5, p_pod: float = 0.3) -> Pairs:
    """Each host sends to a host on its edge with ``p_edge``, elsewhere in its pod with ``p_pod``,
    else to another pod; an empty choice widens (edge -> pod -> other pods), then narrows back."""
    for name, p in (("p_edge", p_edge), ("p_pod", p_pod)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ConfigError(f"staggered {name}={p!r}: must be a probability in [0, 1]")
    if p_edge + p_pod > 1.0 + 1e-12:
        raise ConfigError(f"staggered p_edge + p_pod = {p_edge + p_pod:g}: must be <= 1")
    pairs = []
    for me in hosts:
        others = _others(hosts, me)
        tiers = [
            [h for h in others if (h.pod, h.edge) == (me.pod, me.edge)],
            [h for h in others if h.pod == me.pod and h.edge != me.edge],
            [h for h in others if h.pod != me.pod],
        ]
        u = rng.random()
        tier = 0 if u < p_edge else 1 if u < p_edge + p_pod else 2
        order = list(range(tier, 3)) + list(range(tier - 1, -1, -1))
        choice = next(tiers[t] for t in order if tiers[t])
        pairs.append((me.name, _pick(rng, choice).name))
    return pairs


def random(hosts: Sequence[HostSpec], rng: np.random.Generator) -> Pairs:
    """Each host sends to one other host chosen uniformly."""
    return [(me.name, _pick(rng, _others(hosts, me)).name) for me in hosts]


def bijection(hosts: Sequence[HostSpec], rng: np.random.Generator) -> Pairs:
    """A random permutation without fixed points: every host sends once and receives once."""
    n = len(hosts)
    while True:  # a uniform derangement by rejection: ~e tries on average
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return [(h.name, hosts[int(j)].name) for h, j in zip(hosts, perm)]


def kflows(hosts: Sequence[HostSpec], rng: np.random.Generator, *, k: int = 2) -> Pairs:
    """Each host sends to ``k`` distinct other hosts chosen uniformly."""
    _count("kflows k", k, 1, len(hosts) - 1)
    pairs = []
    for me in hosts:
        others = _others(hosts, me)
        pairs += [(me.name, others[int(j)].name) for j in rng.choice(len(others), size=k, replace=False)]
    return pairs


def hotspot(hosts: Sequence[HostSpec], rng: np.random.Generator, *, hot_hosts: int = 1, hot_fraction: float = 0.5) -> Pairs:
    """``hot_hosts`` random hosts are hot; each host sends one flow, to a hot host (not itself)
    with probability ``hot_fraction``, else to a cold host other than itself."""
    _count("hotspot hot_hosts", hot_hosts, 1, len(hosts) - 1)
    if isinstance(hot_fraction, bool) or not isinstance(hot_fraction, (int, float)) or not 0.0 <= hot_fraction <= 1.0:
        raise ConfigError(f"hotspot hot_fraction={hot_fraction!r}: must be a probability in [0, 1]")
    hot_idx = set(int(i) for i in rng.choice(len(hosts), size=hot_hosts, replace=False))
    pairs = []
    for me in hosts:
        hot = [h for h in _others(hosts, me) if h.index in hot_idx]
        cold = [h for h in _others(hosts, me) if h.index not in hot_idx]
        want_hot = rng.random() < hot_fraction
        choice = hot if (want_hot and hot) or not cold else cold
        pairs.append((me.name, _pick(rng, choice).name))
    return pairs


def all_to_all(hosts: Sequence[HostSpec], rng: np.random.Generator) -> Pairs:
    """Every host sends to every other host."""
    return [(me.name, h.name) for me in hosts for h in _others(hosts, me)]


def _count(what: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(f"{what}={value!r}: must be an integer in [{low}, {high}] for these hosts")


#: Every pattern by name (read-only); each maps (hosts, rng, **params) to (src, dst) pairs.
PATTERNS: Mapping[str, Callable[..., Pairs]] = MappingProxyType({
    "incast": incast, "stride": stride, "staggered": staggered, "random": random,
    "bijection": bijection, "kflows": kflows, "hotspot": hotspot, "all_to_all": all_to_all,
})

_WORKLOAD_KEYS = ("workload", "size_bytes", "load", "capacity_mbps", "duration_s")


def generate_pattern(name: str, hosts: Sequence[HostSpec], *, seed: int | None = None, **params: Any) -> TrafficPattern:
    """Generate pattern ``name`` over ``hosts``; ``seed=None`` draws a fresh seed and records it.

    Pattern parameters (see ``PATTERNS[name]``) and workload parameters (``workload``,
    ``size_bytes``, ``load``, ``capacity_mbps``, ``duration_s``) are keyword arguments; the
    pattern records all of them, defaults included.
    """
    try:
        fn = PATTERNS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(PATTERNS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown traffic pattern {name!r}{hint}; known: {sorted(PATTERNS)}") from None
    hosts = tuple(hosts)
    if not all(isinstance(h, HostSpec) for h in hosts):
        raise ConfigError(f"traffic pattern {name!r}: hosts must be HostSpec objects (e.g. topology.hosts), got {hosts[:3]!r}")
    names = [h.name for h in hosts]
    if len(hosts) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"traffic pattern {name!r} needs at least two hosts with distinct names; got {names}")
    accepted = {p.name: p.default for p in list(inspect.signature(fn).parameters.values())[2:]}
    unknown = sorted(set(params) - set(accepted) - set(_WORKLOAD_KEYS))
    if unknown:
        raise ConfigError(f"traffic pattern {name!r} does not take {unknown}; it takes "
                          f"{sorted(accepted)} and the workload keys {list(_WORKLOAD_KEYS)}")
    if seed is None:
        seed = secrets.randbits(63)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r}: must be None or an integer >= 0")
    work = {k: params.pop(k) for k in _WORKLOAD_KEYS if k in params}
    kind = work.pop("workload", "fixed" if work.get("size_bytes") else "long")
    workload = Workload(kind, **work)
    rng = np.random.default_rng(int(seed))
    pairs = fn(hosts, rng, **params)
    flows = _flows(pairs, workload, rng, {h.name: h.index for h in hosts})
    recorded = {**accepted, **params, "workload": kind, **work}
    return TrafficPattern(name, tuple(flows), int(seed), recorded)


def _flows(pairs: Pairs, workload: Workload, rng: np.random.Generator, index: Mapping[str, int]) -> list[Flow]:
    if not workload.poisson:
        return [Flow(src, dst, 0.0, workload.size_bytes) for src, dst in pairs]
    by_src: dict[str, list[str]] = {}
    for src, dst in pairs:
        by_src.setdefault(src, []).append(dst)
    flows = [Flow(src, dst, start, size) for src, dsts in by_src.items() for start, dst, size in workload.arrivals(rng, dsts)]
    return sorted(flows, key=lambda f: (f.start_s, index[f.src]))
