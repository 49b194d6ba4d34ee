"""Fault injection on the caching gyms and the pipeline: bad input gets a typed error naming the value.

Each attack goes through the public surface (``gymnasium.make``, ``load_trace``, the pipeline CLI)
and checks that nothing is left behind (no temp or probe files).
"""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import iroko_gym  # noqa: F401  (registers the ids)
from iroko_gym.cache.pipeline import Vocabulary, main, process_log, read_log, write_trace
from iroko_gym.cache.trace import load_trace
from iroko_gym.errors import ConfigError, TraceError

from .conftest import make_trace, tb

pytestmark = [pytest.mark.faults, pytest.mark.filterwarnings("ignore::iroko_gym.cache.env.IdleEpisodeWarning")]

RAW = Path(__file__).parent / "fixtures" / "raw_log.csv"
INT64_MIN = "-9223372036854775808"


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "column, value, shown",
    [("kB", np.inf, "inf"), ("kB", 1e300, "1e+300"), ("fID", 2.0**64, "1.8446744073709552e+19"),
     ("3", -np.inf, "-inf"), ("kB", 2.0**45, "35184372088832")],
)
def test_infinite_or_huge_trace_values_are_named_not_wrapped(tmp_path, column, value, shown) -> None:
    frame = make_trace([1, 2, 1], [10, 20, 10]).to_frame().astype({column: "float64"})
    frame.iloc[1, frame.columns.get_loc(column)] = value
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    with pytest.raises(TraceError, match=rf"column '{column}' row 1 has value {re.escape(shown)}") as err:
        gym.make("Cache-v0", trace=str(path))
    assert INT64_MIN not in str(err.value)
    assert files(tmp_path) == ["t.parquet"]


def test_uint64_beyond_int64_is_refused() -> None:
    frame = make_trace([1, 2], [10, 20]).to_frame().astype({"fID": "uint64"})
    frame["fID"] = np.array([1, 2**63 + 5], dtype=np.uint64)
    with pytest.raises(TraceError, match=r"column 'fID' row 1 has value 9223372036854775813"):
        iroko_gym.cache.trace.Trace.from_frame(frame)


@pytest.mark.parametrize("size", [np.inf, 1e30])
def test_raw_log_with_infinite_or_huge_sizes_fails_and_writes_nothing(tmp_path, capsys, size) -> None:
    log = read_log(RAW).astype({"filesize": "float64"})
    log.loc[2, "filesize"] = size
    raw = tmp_path / "raw.csv"
    log.to_csv(raw, index=False)
    out = tmp_path / "out" / "trace.parquet"
    assert main(["process", str(raw), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"column 'filesize' row 2 is {size!r}" in err and INT64_MIN not in err
    assert files(tmp_path) == ["raw.csv"]


@pytest.mark.parametrize("size", [float("inf"), 1e300, float("nan"), True, "10", -1.0])
def test_infinite_huge_or_non_numeric_cache_sizes_are_named(size) -> None:
    with pytest.raises(ConfigError, match=rf"cache_size_tb={re.escape(repr(size))}: must be a finite number > 0"):
        gym.make("Cache-v0", cache_size_tb=size)


def test_a_one_row_trace_is_refused_at_make_saying_why(tmp_path) -> None:
    path = tmp_path / "one.parquet"
    make_trace([7], [10]).save(path)
    for env_id in ("Cache-v0", "Cache-continuous-v0"):
        with pytest.raises(TraceError, match="trace has 1 access; a cache episode needs at least 2"):
            gym.make(env_id, trace=str(path))


@pytest.mark.parametrize(
    "option, value",
    [("normalize_reward", "no"), ("normalize_reward", 1), ("random_window", "yes"), ("hit_cost", True),
     ("hit_cost", float("nan")), ("length", 2.5), ("length", True), ("start", "0"), ("high_watermark", np.inf),
     ("low_watermark", 0.0), ("reward_mode", 3), ("monitor_path", 5)],
)
def test_flags_and_numbers_of_the_wrong_type_are_refused(option, value) -> None:
    with pytest.raises(ConfigError, match=rf"{option}.*{re.escape(repr(value))}"):
        gym.make("Cache-v0", trace=make_trace([1, 2, 1], 10), cache_size_tb=tb(100), **{option: value})


def test_numpy_integers_and_bools_are_accepted_as_such() -> None:
    env = gym.make("Cache-v0", length=np.int64(100), start=np.int32(5), normalize_reward=np.bool_(True))
    assert env.unwrapped.config.length == 100 and type(env.unwrapped.config.length) is int
    assert env.reset()[1]["access"] == 5


@pytest.mark.parametrize("where", ["file/ep.parquet", "dir"])
def test_an_unwritable_monitor_path_fails_at_make_and_creates_nothing(tmp_path, where) -> None:
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match="monitor_path '.*(file|dir)'"):
        gym.make("Cache-v0", monitor_path=tmp_path / where)
    assert files(tmp_path) == ["dir", "file"]


def test_a_templated_monitor_path_is_checked_at_each_reset(tmp_path) -> None:
    (tmp_path / "1").write_text("in the way of episode 1's directory")
    env = gym.make("Cache-v0", trace=make_trace([1, 2, 1], 10), cache_size_tb=tb(100),
                   monitor_path=tmp_path / "{episode}" / "ep.parquet")
    env.reset()
    for _ in range(2):
        env.step(1)
    with pytest.raises(ConfigError, match=r"monitor_path '.*/1/ep\.parquet'.*is a file"):
        env.reset()
    assert files(tmp_path) == ["0", "0/ep.parquet", "1"]


def test_a_failed_trace_write_keeps_the_old_trace_and_its_vocabulary(tmp_path, monkeypatch) -> None:
    out = tmp_path / "trace.parquet"
    old_trace, old_vocab = process_log(read_log(RAW))
    write_trace(old_trace, old_vocab, out)
    new_log = pd.DataFrame({"time": [1, 2], "scope": ["user"] * 2, "dataset": ["user.alice.fresh"] * 2,
                            "filename": ["a", "b"], "filesize": [4096, 8192]})
    new_trace, new_vocab = process_log(new_log)
    assert new_vocab.ids != old_vocab.ids

    def fail_half_way(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", fail_half_way)
    with pytest.raises(ConfigError, match=r"cannot write trace '.*trace\.parquet': No space left on device"):
        write_trace(new_trace, new_vocab, out)
    monkeypatch.undo()
    assert files(tmp_path) == ["trace.parquet"]  # no temp file, no separate vocabulary to go stale
    np.testing.assert_array_equal(load_trace(out).fid, old_trace.fid)
    assert Vocabulary.load(out).ids == old_vocab.ids

    write_trace(new_trace, new_vocab, out)  # a write that succeeds publishes trace and vocabulary together
    np.testing.assert_array_equal(load_trace(out).fid, new_trace.fid)
    assert Vocabulary.load(out).ids == new_vocab.ids and files(tmp_path) == ["trace.parquet"]


def test_a_trace_without_a_vocabulary_is_named(tmp_path) -> None:
    path = make_trace([1, 2], 10).save(tmp_path / "plain.parquet")
    with pytest.raises(TraceError, match=r"cannot read vocabulary '.*plain\.parquet': .*no 'iroko_gym.vocabulary'"):
        Vocabulary.load(path)
