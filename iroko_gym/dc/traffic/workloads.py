"""Flow-size workloads and Poisson flow arrivals at a target load.

A pattern says who talks to whom; a workload says how much and when.  ``long`` gives one
long-lived flow per (src, dst) pair, ``fixed`` flows of ``size_bytes``, and ``websearch`` flow
sizes drawn from a heavy-tailed empirical distribution shaped like the web-search workload of the
DCTCP paper (most flows are a few tens of kB, most bytes are in multi-MB flows).  With a ``load``,
each sender starts flows as a Poisson process whose mean offered rate is ``load`` times its link
capacity, so that the traffic has bursts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from iroko_gym.errors import ConfigError
from iroko_gym.validate import check_choice, check_int, check_real

#: Web-search-like flow sizes: (size in bytes, P[size <= that]).  Written for this project: a
#: 15 % atom at 10 kB, half the flows under ~70 kB, a tail to 30 MB that carries most bytes.
WEBSEARCH_CDF: tuple[tuple[int, float], ...] = (
    (10_000, 0.15),
    (20_000, 0.20),
    (30_000, 0.30),
    (50_000, 0.40),
    (80_000, 0.53),
    (200_000, 0.60),
    (1_000_000, 0.70),
    (2_000_000, 0.80),
    (5_000_000, 0.90),
    (10_000_000, 0.97),
    (30_000_000, 1.00),
)

WORKLOADS = ("long", "fixed", "websearch")


@dataclass(frozen=True)
class SizeDistribution:
    """An empirical flow-size CDF, interpolated linearly between points (inverse transform)."""

    name: str
    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        sizes = [s for s, _ in self.points]
        probs = [p for _, p in self.points]
        if not self.points or sizes[0] <= 0 or probs[-1] != 1.0 or probs[0] < 0.0:
            raise ConfigError(f"size distribution {self.name!r}: needs positive sizes and a CDF ending at 1.0")
        if any(b <= a for a, b in zip(sizes, sizes[1:])) or any(b < a for a, b in zip(probs, probs[1:])):
            raise ConfigError(f"size distribution {self.name!r}: sizes must increase and probabilities not decrease")

    @property
    def mean_bytes(self) -> float:
        """Exact mean of the interpolated distribution (atom at the first point, then trapezoids)."""
        s0, p0 = self.points[0]
        total = float(s0 * p0)
        for (sa, pa), (sb, pb) in zip(self.points, self.points[1:]):
            total += (pb - pa) * (sa + sb) / 2.0
        return total

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` flow sizes in bytes (int64)."""
        sizes = np.array([s for s, _ in self.points], dtype=float)
        probs = np.array([p for _, p in self.points], dtype=float)
        return np.rint(np.interp(rng.random(n), probs, sizes)).astype(np.int64)


WEBSEARCH = SizeDistribution("websearch", WEBSEARCH_CDF)


@dataclass(frozen=True)
class Workload:
    """Flow sizes and arrivals, checked once from the ``generate_pattern`` keyword arguments."""

    kind: str = "long"
    size_bytes: int = 0
    load: float | None = None
    capacity_mbps: float | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        check_choice("workload", self.kind, WORKLOADS)
        object.__setattr__(self, "size_bytes", check_int("size_bytes", self.size_bytes, 0))
        if self.kind == "fixed" and self.size_bytes == 0:
            raise ConfigError("workload 'fixed' needs size_bytes > 0")
        if self.kind != "fixed" and self.size_bytes:
            raise ConfigError(f"size_bytes={self.size_bytes} only applies to workload 'fixed', not {self.kind!r}")
        if self.kind == "long" and self.load is not None:
            raise ConfigError("load applies to sized flows; give size_bytes or workload='websearch'")
        if self.kind == "websearch" and self.load is None:
            raise ConfigError("workload 'websearch' needs load, capacity_mbps and duration_s")
        if self.load is not None:
            _positive("load", self.load, upper=1.0)
            _positive("capacity_mbps", self.capacity_mbps)
            _positive("duration_s", self.duration_s)

    @property
    def poisson(self) -> bool:
        return self.load is not None

    def mean_size_bytes(self) -> float:
        return WEBSEARCH.mean_bytes if self.kind == "websearch" else float(self.size_bytes)

    def sizes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "websearch":
            return WEBSEARCH.sample(rng, n)
        return np.full(n, self.size_bytes, dtype=np.int64)

    def arrivals(self, rng: np.random.Generator, dsts: Sequence[str]) -> list[tuple[float, str, int]]:
        """One sender's flows as (start_s, dst, size_bytes): Poisson starts over ``[0, duration_s)``.

        The rate is ``load * capacity / mean size`` flows per second (drawn as a Poisson count
        and sorted uniform times, which is the same process as exponential gaps, vectorised);
        each flow goes to one of ``dsts`` chosen uniformly, so they share the sender's load.
        """
        assert self.load is not None and self.capacity_mbps is not None and self.duration_s is not None
        rate_per_s = self.load * self.capacity_mbps * 1e6 / 8.0 / self.mean_size_bytes()
        n = int(rng.poisson(rate_per_s * self.duration_s))
        starts = np.sort(rng.uniform(0.0, self.duration_s, size=n))
        picks = rng.integers(0, len(dsts), size=n)
        sizes = self.sizes(rng, n)
        return [(float(s), dsts[int(i)], int(b)) for s, i, b in zip(starts, picks, sizes)]


def _positive(name: str, value: object, upper: float | None = None) -> None:
    check_real(name, value, high=upper, positive=True)
