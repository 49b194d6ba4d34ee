"""Reward functions of the data-center env, registered by name and summable.

Every reward is a pure function ``fn(snap, action) -> float`` of what was measured over one
step interval (:class:`~iroko_gym.dc.measurements.Snapshot`) and the per-host sending fractions
that were in force during it (shape ``(H,)``, values in ``[min_fraction, 1]``).  ``make_reward``
turns a name, a ``"+"``-joined string, a list of names or a ``{name: weight}`` mapping into one
callable that sums the weighted terms.  Formulas and ranges are in ``docs/rewards.md``.

Conventions (shared by all terms):

* ``q`` is the largest mean port backlog as a fraction of that port's bound
  (``max(snap.queue_fraction)``, 0 when there are no ports), in ``[0, 1]``;
* ``mean(a)`` is 0 for an empty action; Jain's index of an all-zero action is 1 (all equal) and
  its Gini coefficient 0, so no term ever divides by zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, Union

import numpy as np

from iroko_gym.dc.measurements import Snapshot
from iroko_gym.errors import ActionError, ConfigError
from iroko_gym.validate import check_real, did_you_mean

#: Queue fraction above which ``step`` turns the utilisation term into a penalty.
STEP_QUEUE_THRESHOLD = 0.30


class RewardFn(Protocol):
    """A reward: measurements of one interval and the action in force -> a finite float."""

    def __call__(self, snap: Snapshot, action: np.ndarray) -> float: ...


RewardSpec = Union[str, Sequence[str], Mapping[str, float]]


# --- building blocks -------------------------------------------------------------------------


def max_queue_fraction(snap: Snapshot) -> float:
    """Largest mean port backlog as a fraction of its bound, in [0, 1] (0 without ports)."""
    # fmax skips NaN (a port without a bound); queue_fraction is clipped, so no infinity is left
    return float(np.fmax.reduce(snap.queue_fraction, initial=0.0))


def jain_index(values: np.ndarray) -> float:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)`` in [1/n, 1]; 1 for all-zero or empty."""
    x = np.asarray(values, dtype=float)
    sq = float(np.sum(x * x))
    if x.size == 0 or sq == 0.0:
        return 1.0
    return float(np.sum(x)) ** 2 / (x.size * sq)


@functools.lru_cache(maxsize=8)
def _gini_weights(n: int) -> np.ndarray:
    """``2 i - n - 1`` for the ranks ``i = 1..n`` (read-only: shared between calls)."""
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    weights.flags.writeable = False
    return weights


def gini_coefficient(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values, in [0, (n-1)/n]; 0 for all-zero or empty."""
    x = np.sort(np.asarray(values, dtype=float))
    total = float(x.sum())
    if x.size == 0 or total == 0.0:
        return 0.0
    return float(np.dot(_gini_weights(x.size), x)) / (x.size * total)


def _mean(action: np.ndarray) -> float:
    a = np.asarray(action, dtype=float)
    return float(a.mean()) if a.size else 0.0


# --- the registered rewards -----------------------------------------------------------------


def action_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Mean sending fraction: rewards asking for bandwidth, blind to its cost."""
    return _mean(action)


def fairness_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Jain's index of the action: 1 when every host gets the same fraction."""
    return jain_index(action)


def gini_reward(snap: Snapshot, action: np.ndarray) -> float:
    """One minus the Gini coefficient of the action: 1 when every host gets the same fraction."""
    return 1.0 - gini_coefficient(action)


def std_dev_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Minus the standard deviation of the action: 0 when all fractions are equal."""
    a = np.asarray(action, dtype=float)
    return -float(a.std()) if a.size else 0.0


def queue_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Minus the squared worst queue fraction: mild for short queues, -1 for a full one."""
    return -max_queue_fraction(snap) ** 2


def joint_queue_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Utilisation that turns negative once the worst queue is more than half full."""
    return _mean(action) * (1.0 - 2.0 * max_queue_fraction(snap))


def fair_queue_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Utilisation plus fairness, both discounted by how full the worst queue is."""
    return (_mean(action) + jain_index(action)) * (1.0 - max_queue_fraction(snap))


def step_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Fair utilisation minus queue; above the queue threshold utilisation counts against."""
    q = max_queue_fraction(snap)
    fair_use = _mean(action) * (1.0 - gini_coefficient(action))
    return (fair_use if q <= STEP_QUEUE_THRESHOLD else -fair_use) - q


def delivered_fraction(snap: Snapshot) -> float:
    """Measured delivered throughput over the aggregate host link capacity, in [0, 1]."""
    capacity = float(np.sum(snap.host_capacity_bps))
    if capacity <= 0.0:
        return 0.0
    delivered = float(np.sum(snap.host_rx_bps))
    if not math.isfinite(delivered):  # a NaN or infinite rate among them: those count as nothing
        delivered = float(np.sum(np.nan_to_num(snap.host_rx_bps, nan=0.0, posinf=0.0)))
    return min(max(delivered / capacity, 0.0), 1.0)


def throughput_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Measured delivered throughput (normalised) minus the worst queue fraction."""
    return delivered_fraction(snap) - max_queue_fraction(snap)


def busiest_port_utilisation(snap: Snapshot) -> float:
    """Egress throughput over capacity of the busiest port, in [0, 1] (0 without ports): the
    benchmark's ``utilisation`` metric."""
    if snap.port_tx_bps.size == 0:
        return 0.0
    capacity = np.where(snap.port_capacity_bps > 0.0, snap.port_capacity_bps, np.inf)
    return float(np.clip(np.max(np.nan_to_num(snap.port_tx_bps, nan=0.0, posinf=0.0) / capacity), 0.0, 1.0))


def utilisation_queue_reward(snap: Snapshot, action: np.ndarray) -> float:
    """Measured busiest-port utilisation minus twice the worst queue fraction: what the benchmark
    scores (utilisation up, p99 queue down), not what the action asked for."""
    return busiest_port_utilisation(snap) - 2.0 * max_queue_fraction(snap)


@dataclass(frozen=True)
class _Info:
    fn: RewardFn
    formula: str
    low: float
    high: float


_T = f"{STEP_QUEUE_THRESHOLD:g}"
_INFO: dict[str, _Info] = {
    "step": _Info(step_reward, f"u - q if q <= {_T} else -u - q, u = mean(a) * (1 - gini(a))", -2.0, 1.0),
    "joint_queue": _Info(joint_queue_reward, "mean(a) * (1 - 2 q)", -1.0, 1.0),
    "fair_queue": _Info(fair_queue_reward, "(mean(a) + jain(a)) * (1 - q)", 0.0, 2.0),
    "queue": _Info(queue_reward, "-q^2", -1.0, 0.0),
    "action": _Info(action_reward, "mean(a)", 0.0, 1.0),
    "std_dev": _Info(std_dev_reward, "-std(a)", -0.5, 0.0),
    "fairness": _Info(fairness_reward, "jain(a) = (sum a)^2 / (H sum a^2)", 0.0, 1.0),
    "gini": _Info(gini_reward, "1 - gini(a)", 0.0, 1.0),
    "throughput": _Info(throughput_reward, "sum(host_rx_bps) / sum(host_capacity_bps) - q", -1.0, 1.0),
    "utilisation_queue": _Info(utilisation_queue_reward, "max(port_tx_bps / port_capacity_bps) - 2 q", -2.0, 1.0),
}

#: Every registered reward by name (read-only).
REWARDS: Mapping[str, RewardFn] = MappingProxyType({name: info.fn for name, info in _INFO.items()})


# --- selection and summing ------------------------------------------------------------------


@dataclass(frozen=True)
class CombinedReward:
    """A weighted sum of registered rewards; picklable (it holds names, not closures)."""

    terms: tuple[tuple[str, float], ...]

    def __call__(self, snap: Snapshot, action: np.ndarray) -> float:
        if not np.all(np.isfinite(action)):
            raise ActionError(f"reward {self}: action has non-finite values {np.asarray(action).tolist()}")
        total = 0.0
        for name, weight in self.terms:
            total += weight * _INFO[name].fn(snap, action)
        if not math.isfinite(total):
            raise ConfigError(f"reward {self} produced {total!r}; check the snapshot for non-finite capacities or queue bounds")
        return total

    @property
    def range(self) -> tuple[float, float]:
        """Smallest and largest value the weighted sum can take."""
        low = sum(min(w * _INFO[n].low, w * _INFO[n].high) for n, w in self.terms)
        high = sum(max(w * _INFO[n].low, w * _INFO[n].high) for n, w in self.terms)
        return low, high

    def __str__(self) -> str:
        return " + ".join(name if w == 1.0 else f"{w:g}*{name}" for name, w in self.terms)


def _check_name(name: object) -> str:
    if isinstance(name, str) and name in _INFO:
        return name
    raise ConfigError(f"unknown reward {name!r}{did_you_mean(name, _INFO)}; known rewards: {sorted(_INFO)}")


def _check_weight(name: str, weight: object) -> float:
    return check_real(f"reward {name!r} weight", weight)


def _terms(spec: RewardSpec) -> tuple[tuple[str, float], ...]:
    if isinstance(spec, Mapping):
        pairs = [(_check_name(n), _check_weight(str(n), w)) for n, w in spec.items()]
    elif isinstance(spec, str):
        pairs = [(_check_name(part.strip()), 1.0) for part in spec.split("+")]
    elif isinstance(spec, Sequence):
        pairs = [(_check_name(n), 1.0) for n in spec]
    else:
        raise ConfigError(f"reward spec {spec!r}: give a name, 'a+b', a list of names or a {{name: weight}} mapping")
    if not pairs:
        raise ConfigError(f"reward spec {spec!r} names no reward; known rewards: {sorted(_INFO)}")
    merged: dict[str, float] = {}
    for name, weight in pairs:  # repeated names add up: "action+action" == {"action": 2}
        merged[name] = merged.get(name, 0.0) + weight
    return tuple(merged.items())


def make_reward(spec: RewardSpec) -> CombinedReward:
    """The reward named by ``spec`` ("step", "throughput+fairness", ["a", "b"] or {"a": 1, "b": 0.5})."""
    return CombinedReward(_terms(spec))


def describe_reward(spec: RewardSpec) -> str:
    """A readable account of ``spec``: the sum, each term's formula and the range of the total."""
    reward = make_reward(spec)
    low, high = reward.range
    lines = [f"reward = {reward}   (range [{low:g}, {high:g}])"]
    for name, weight in reward.terms:
        info = _INFO[name]
        lines.append(f"  {weight:g} x {name}: {info.formula}   in [{info.low:g}, {info.high:g}]")
    lines.append("  a = per-host sending fraction in force; q = max port backlog / bound over the interval")
    return "\n".join(lines)
