"""Trace loading: the bundled default, round trips, and bad input named precisely."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.cache.trace import Trace, default_trace_path, load_trace
from iroko_gym.errors import TraceError

from .conftest import make_trace


def frame() -> pd.DataFrame:
    return make_trace([5, 6, 5], [10, 20, 10]).to_frame()


def test_bundled_trace_is_small_valid_and_found_from_any_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_trace_path().stat().st_size < 500_000
    trace = load_trace()
    assert len(trace) == 20_000 and trace.tokens.dtype == np.int64 and trace.kb.min() > 0
    assert gym.make("Cache-v0").unwrapped.trace.fid.max() == trace.fid.max()


def test_save_and_load_round_trip(tmp_path) -> None:
    trace = make_trace([5, 6, 5], [10, 20, 10])
    loaded = load_trace(trace.save(tmp_path / "sub" / "t.parquet"))
    for name in ("time", "tokens", "kb", "fid"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(trace, name))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["t.parquet"]


def test_whole_number_floats_are_accepted() -> None:
    f = frame().astype({"kB": "float64", "3": "float64"})
    assert Trace.from_frame(f).kb.tolist() == [10, 20, 10]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda f: f.drop(columns=["kB"]), r"missing column\(s\) \['kB'\]"),
        (lambda f: f.set_axis([0.0, 2.0, 1.0]), r"not sorted: row 2 \(1.0\) comes before row 1"),
        (lambda f: f.astype({"3": str}), "column '3' has dtype object"),
        (lambda f: f.assign(kB=[10, 0, 10]), "column 'kB' row 1 has value 0"),
        (lambda f: f.assign(kB=[10, 20, -3]), "column 'kB' row 2 has value -3"),
        (lambda f: f.assign(**{"2": [1.0, np.nan, 3.0]}), "column '2' row 1 .* is NaN"),
        (lambda f: f.assign(kB=[10.5, 20.0, 10.0]), "column 'kB' row 0 has non-integer value 10.5"),
        (lambda f: f.assign(**{"6": [0, -1, 0]}), "column '6' row 1: token -1 is negative"),
        (lambda f: f.iloc[:0], "no accesses"),
        (lambda f: f.set_axis([0.0, np.nan, 1.0]), "index .* row 1 is missing"),
    ],
)
def test_bad_trace_columns_name_the_column_row_and_value(corrupt, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        Trace.from_frame(corrupt(frame()))


def test_bad_trace_files_name_the_path(tmp_path) -> None:
    with pytest.raises(TraceError, match="does not exist"):
        load_trace(tmp_path / "nope.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(TraceError, match="cannot read trace"):
        load_trace(junk)
    bad = tmp_path / "bad.parquet"
    frame().assign(kB=[10, 0, 10]).to_parquet(bad)
    with pytest.raises(TraceError, match=r"bad\.parquet: column 'kB' row 1"):
        gym.make("Cache-v0", trace=str(bad))
