"""Traffic pattern generators: who sends to whom, from parameters and a seed.

``generate_pattern("incast", topo.hosts, seed=1)`` returns an immutable :class:`TrafficPattern`
(a tuple of :class:`Flow`).  Patterns see hosts only through ``HostSpec.name/.pod/.edge``, so
they work on any topology that fills those in; "same edge" means same ``(pod, edge)``.  Every
random choice comes from one ``numpy.random.Generator`` seeded with ``seed``: the same seed gives
the same pattern.  Flow sizes and Poisson arrivals come from :mod:`.workloads`; the data model
is :mod:`.pattern` (re-exported here), files :mod:`.pattern_files`.  Each pattern's rule is in
``docs/traffic.md``.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from iroko_gym.dc.traffic.pattern import Flow, TrafficPattern
from iroko_gym.dc.traffic.workloads import Workload
from iroko_gym.errors import ConfigError
from iroko_gym.topologies.base import HostSpec
from iroko_gym.validate import check_choice, check_int, check_real, is_int

__all__ = ["PATTERNS", "Flow", "TrafficPattern", "generate_pattern"]

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
    check_int("incast receivers", receivers, 1, len(in_pod))
    rx = in_pod[:receivers]
    cross = len(pods) > 1 if cross_pod is None else bool(cross_pod)
    eligible = [h for h in hosts if h not in rx and (not cross or h.pod != pod)]
    if not eligible:
        raise ConfigError(f"incast: no eligible sender (cross_pod={cross}, receivers={[h.name for h in rx]})")
    if senders is not None:
        check_int("incast senders", senders, 1, len(eligible))
        keep = np.sort(rng.choice(len(eligible), size=senders, replace=False))
        eligible = [eligible[int(i)] for i in keep]
    return [(h.name, rx[i % len(rx)].name) for i, h in enumerate(eligible)]


def stride(hosts: Sequence[HostSpec], rng: np.random.Generator, *, stride: int = 1) -> Pairs:
    """Host i -> host (i + stride) mod N, in host order."""
    n = len(hosts)
    if not is_int(stride) or stride % n == 0:  # type: ignore[operator]
        raise ConfigError(f"stride={stride!r}: must be an integer that is not a multiple of the {n} hosts")
    return [(h.name, hosts[(i + int(stride)) % n].name) for i, h in enumerate(hosts)]


def staggered(hosts: Sequence[HostSpec], rng: np.random.Generator, *, p_edge: float = 0.5, p_pod: float = 0.3) -> Pairs:
    """Each host sends to a host on its edge with ``p_edge``, elsewhere in its pod with ``p_pod``,
    else to another pod; an empty choice widens (edge -> pod -> other pods), then narrows back."""
    p_edge = check_real("staggered p_edge (a probability)", p_edge, 0.0, 1.0)
    p_pod = check_real("staggered p_pod (a probability)", p_pod, 0.0, 1.0)
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
    check_int("kflows k", k, 1, len(hosts) - 1)
    pairs = []
    for me in hosts:
        others = _others(hosts, me)
        pairs += [(me.name, others[int(j)].name) for j in rng.choice(len(others), size=k, replace=False)]
    return pairs


def hotspot(hosts: Sequence[HostSpec], rng: np.random.Generator, *, hot_hosts: int = 1, hot_fraction: float = 0.5) -> Pairs:
    """``hot_hosts`` random hosts are hot; each host sends one flow, to a hot host (not itself)
    with probability ``hot_fraction``, else to a cold host other than itself."""
    check_int("hotspot hot_hosts", hot_hosts, 1, len(hosts) - 1)
    hot_fraction = check_real("hotspot hot_fraction (a probability)", hot_fraction, 0.0, 1.0)
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
    fn = PATTERNS[check_choice("traffic pattern", name, PATTERNS)]
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
    else:
        seed = check_int("seed", seed, 0)
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
