"""Raw log -> processed trace: tokens, vocabulary, file ids, sizes, CLI and bad logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iroko_gym.cache.pipeline import Vocabulary, dataset_tokens, main, process_log, read_log
from iroko_gym.cache.synthetic import SyntheticConfig, generate_log
from iroko_gym.cache.trace import load_trace
from iroko_gym.errors import ConfigError, TraceError

RAW = Path(__file__).parent / "fixtures" / "raw_log.csv"


def test_dataset_names_keep_scope_and_meaningful_tokens() -> None:
    name = "data18_13TeV.00348885.physics_Main.deriv.DAOD_PHYS.r11969_p4150"
    assert dataset_tokens("data18_13TeV", name) == ["data18_13TeV", "physics", "Main", "deriv", "DAOD", "PHYS"]
    assert dataset_tokens("user", "user.jdoe.ab.v1") == ["user", "jdoe"]


def test_small_raw_log_becomes_the_expected_trace() -> None:
    trace, vocab = process_log(read_log(RAW))
    assert trace.time.tolist() == [10, 20, 30, 40]  # sorted by time
    np.testing.assert_array_equal(
        trace.tokens,
        [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 4, 5], [7, 8, 9, 10, 4, 5], [11, 12, 0, 0, 0, 0]],
    )
    assert trace.fid.tolist() == [1, 2, 2, 3]
    assert trace.kb.tolist() == [2, 1024, 1024, 1]  # bytes / 1024, rounded up
    assert vocab.ids["PowhegPythia8EvtGen"] == 8 and len(vocab.ids) == 12


def test_a_saved_vocabulary_keeps_ids_stable_for_new_logs(tmp_path) -> None:
    assert main(["process", str(RAW), str(tmp_path / "a.parquet")]) == 0
    vocab = Vocabulary.load(tmp_path / "a.parquet")  # the vocabulary travels inside the trace
    new = pd.DataFrame(
        {"time": [1], "scope": ["user"], "dataset": ["user.alice.analysis"], "filename": ["x"], "filesize": [4096]}
    )
    trace, extended = process_log(new, vocab)
    assert trace.tokens[0, :3].tolist() == [vocab.ids["user"], 13, 14]
    assert {k: extended.ids[k] for k in vocab.ids} == vocab.ids
    assert main(["process", str(RAW), str(tmp_path / "b.parquet"), "--vocab", str(tmp_path / "a.parquet")]) == 0
    np.testing.assert_array_equal(load_trace(tmp_path / "b.parquet").tokens, load_trace(tmp_path / "a.parquet").tokens)


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("filesize", -5, "column 'filesize' row 1 is -5"),
        ("filesize", "big", "column 'filesize' row 1 is 'big'"),
        ("time", "yesterday", "column 'time' row 1 is 'yesterday'"),
        ("dataset", None, "column 'dataset' row 1 is empty"),
    ],
)
def test_bad_raw_log_fails_naming_row_and_writes_nothing(tmp_path, capsys, column, value, message) -> None:
    log = read_log(RAW)
    log[column] = log[column].astype(object)
    log.loc[1, column] = value
    raw = tmp_path / "raw.csv"
    log.to_csv(raw, index=False)
    out = tmp_path / "out" / "trace.parquet"
    assert main(["process", str(raw), str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.parent.exists()


def test_iso_times_are_parsed_and_sorted() -> None:
    log = read_log(RAW)
    log["time"] = ["2024-05-01T10:00:30Z", "2024-05-01T10:00:10Z", "2024-05-01T10:00:20Z", "2024-05-01T10:00:40Z"]
    trace, _ = process_log(log)
    assert trace.time.dtype.kind == "M" and trace.fid.tolist() == [1, 2, 2, 3]


def test_missing_columns_and_bad_vocab_are_named(tmp_path) -> None:
    with pytest.raises(TraceError, match=r"missing column\(s\) \['filesize'\]"):
        process_log(read_log(RAW).drop(columns=["filesize"]))
    bad = tmp_path / "v.json"
    bad.write_text('{"tokens": {"a": 1, "b": 3}}')
    with pytest.raises(TraceError, match="ids are not 1..2"):
        Vocabulary.load(bad)


def test_synthetic_logs_are_reproducible_by_seed() -> None:
    config = SyntheticConfig(accesses=300, datasets=30, seed=5)
    a, b = generate_log(config), generate_log(config)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_log(SyntheticConfig(accesses=300, datasets=30, seed=6)))
    assert a.groupby("filename")["filesize"].nunique().max() == 1  # one size per file
    assert a["time"].is_monotonic_increasing
    with pytest.raises(ConfigError, match="accesses"):
        SyntheticConfig(accesses=0)


def test_synth_cli_reproduces_the_bundled_trace(tmp_path) -> None:
    assert main(["synth", str(tmp_path / "t.parquet")]) == 0
    ours, bundled = load_trace(tmp_path / "t.parquet"), load_trace()
    np.testing.assert_array_equal(ours.kb, bundled.kb)
    np.testing.assert_array_equal(ours.tokens, bundled.tokens)


def test_vocab_command_prints_the_vocabulary_stored_in_a_trace(tmp_path, capsys) -> None:
    assert main(["synth", str(tmp_path / "t.parquet"), "--accesses", "50", "--raw-out", str(tmp_path / "raw.csv")]) == 0
    capsys.readouterr()
    assert main(["vocab", str(tmp_path / "t.parquet")]) == 0
    tokens = json.loads(capsys.readouterr().out)["tokens"]
    assert sorted(tokens.values()) == list(range(1, len(tokens) + 1)) and len(read_log(tmp_path / "raw.csv")) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.csv", "t.parquet"]


def test_module_help_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "iroko_gym.cache.pipeline", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "process" in proc.stdout and "synth" in proc.stdout
