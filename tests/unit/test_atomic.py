"""iroko_gym.atomic: the target is replaced whole or left alone, and no temp file survives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iroko_gym.atomic import atomic_write, atomic_write_text


def test_writes_text_creating_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.csv"
    assert atomic_write_text(path, "x,y\r\n", mode=0o644, fsync=True) == path
    assert path.read_bytes() == b"x,y\r\n"  # no newline translation
    assert path.stat().st_mode & 0o777 == 0o644
    assert os.listdir(path.parent) == ["b.csv"]


def test_failing_writer_leaves_the_old_file_and_no_debris(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]


def test_unencodable_text_leaves_no_debris(tmp_path: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(tmp_path / "s.csv", "é", encoding="ascii")
    assert os.listdir(tmp_path) == []
