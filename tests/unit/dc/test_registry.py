"""Ownership records: what a dead env left behind is removed exactly, live envs are untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from iroko_gym.dc import registry


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "RUN_DIR", tmp_path)
    return tmp_path


def _dead_pid() -> tuple[int, int]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    start = registry.process_start_time(proc.pid)
    proc.wait()
    return proc.pid, start or 1


def test_process_start_time_identifies_live_processes_only():
    assert registry.process_start_time(os.getpid()) is not None
    pid, _ = _dead_pid()
    assert registry.process_start_time(pid) is None


def test_reap_stale_kills_recorded_processes_of_a_dead_owner_and_drops_the_record(run_dir):
    victim = subprocess.Popen(["sleep", "60"])
    owner_pid, owner_start = _dead_pid()
    own = registry.Ownership("iabcd", owner_pid, owner_start)
    own.add_process(victim.pid)
    assert (run_dir / "iabcd.json").exists()
    assert registry.reap_stale() == ["iabcd"]
    assert victim.wait(timeout=5) == -9
    assert not (run_dir / "iabcd.json").exists()


def test_reap_stale_leaves_live_owners_and_recycled_pids_alone(run_dir):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        live = registry.Ownership("i1111", os.getpid(), registry.process_start_time(os.getpid()))
        live.add_process(bystander.pid)
        owner_pid, owner_start = _dead_pid()
        # A dead owner whose record names the bystander's pid with another start time: pid reuse.
        (run_dir / "i2222.json").write_text(json.dumps(
            {"prefix": "i2222", "owner_pid": owner_pid, "owner_start": owner_start, "links": [],
             "processes": [[bystander.pid, 1]]}))
        assert registry.reap_stale() == ["i2222"]
        time.sleep(0.1)
        assert bystander.poll() is None
        assert (run_dir / "i1111.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_records_are_written_atomically_and_skipped_if_unreadable(run_dir):
    (run_dir / "i9999.json").write_text("{not json")
    assert registry.reap_stale() == []
    own = registry.Ownership("i3333", os.getpid(), registry.process_start_time(os.getpid()))
    own.add_links(["i3333s1", "i3333s1-eth1", "i3333s1"])
    assert json.loads((run_dir / "i3333.json").read_text())["links"] == ["i3333s1", "i3333s1-eth1"]
    assert not list(run_dir.glob("*.tmp"))


@pytest.mark.faults
def test_no_prefix_begins_with_if_which_iproute2_could_read_as_an_ifindex(monkeypatch):
    import re

    for first in range(15):  # every value the first digit can take
        monkeypatch.setattr(registry.secrets, "randbelow", lambda n, first=first: first)
        monkeypatch.setattr(registry.secrets, "token_hex", lambda n: "f" * 2 * n)
        prefix = registry.new_prefix()
        assert re.fullmatch(r"i[0-9a-e][0-9a-f]{3}", prefix), prefix
