"""Checks for values that arrive at the package's edges (kwargs, config files, CLI flags, messages).

One definition each of "an integer but not a bool", "a finite number", the "did you mean"
suggestion and the unknown-key report, so that every config in the package words its errors
alike.  Every check raises :class:`~iroko_gym.errors.ConfigError` (or the class given) naming
the field and the bad value, and returns the value converted to a plain Python type.
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Collection, Iterable, Mapping

import numpy as np

from iroko_gym.errors import ConfigError


def did_you_mean(value: object, options: Iterable[str], *, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(str(value), list(options), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known_keys(what: str, given: Iterable[str], known: Collection[str], *,
                     error: type[Exception] = ConfigError) -> None:
    """Raise one error listing every key of ``given`` not in ``known``, each with its suggestion."""
    unknown = [k for k in given if k not in known]
    if unknown:
        parts = [f"{k!r}{did_you_mean(k, known)}" for k in unknown]
        raise error(f"unknown {what} {', '.join(parts)}; known: {sorted(known)}")


def is_int(value: object) -> bool:
    """Python and numpy integers, not bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Finite Python or numpy reals (integers included), not bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: object, low: int | None = None, high: int | None = None, *,
              error: type[Exception] = ConfigError) -> int:
    """An integer (not a bool) within ``[low, high]``; returned as a Python int."""
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise error(f"{name}={value!r}: must be an integer{_range(low, high)}")
    return int(value)  # type: ignore[call-overload]


def check_real(name: str, value: object, low: float | None = None, high: float | None = None, *,
               positive: bool = False, error: type[Exception] = ConfigError) -> float:
    """A finite number (not a bool) within ``[low, high]`` (and ``> 0`` if ``positive``); as a float."""
    ok = is_real(value) and (low is None or value >= low) and (high is None or value <= high)  # type: ignore[operator]
    if not ok or (positive and value <= 0):  # type: ignore[operator]
        want = "a finite number" + (" > 0" if positive else "") + _range(low, high)
        raise error(f"{name}={value!r}: must be {want}")
    return float(value)  # type: ignore[arg-type]


def check_bool(name: str, value: object, *, error: type[Exception] = ConfigError) -> bool:
    """True or False (numpy bools too), never a truthy string or number."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name}={value!r}: must be True or False")
    return bool(value)


def check_choice(name: str, value: object, choices: Collection[str], *,
                 error: type[Exception] = ConfigError) -> str:
    """One of ``choices`` (strings), with a suggestion when it is not."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{name}={value!r}: must be one of {sorted(choices)}{did_you_mean(value, choices)}")
    return value


def check_mapping(name: str, value: object, *, error: type[Exception] = ConfigError) -> Mapping[str, Any]:
    """A mapping with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise error(f"{name}={value!r}: must be a mapping of names to values, e.g. {{'k': 4}}")
    return value


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""
