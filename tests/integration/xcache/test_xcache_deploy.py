"""The whole deployment as one command, with a real redis-server and the remote learner as actor."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "iroko_gym.xcache.deploy", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def test_one_command_replays_the_trace_with_the_remote_actor(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the remote actor needs: pip install 'iroko_gym[remote]'")
    out = tmp_path / "summary.json"
    proc = subprocess.run(_command("--length", "600", "--cache-size-tb", "1", "--rollout-steps", "128",
                                   "--segment-steps", "32", "--json", str(out)),
                          capture_output=True, text=True, timeout=240, env=_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^hit rate 0\.\d{4} \(\d+ of 600 accesses\)$", proc.stdout, re.M), proc.stdout
    assert "accesses/s end to end" in proc.stdout and "stored in Redis: 600 answers" in proc.stdout
    summary = json.loads(out.read_text())
    assert summary["accesses"] == 600 and summary["stored"]["answers"] == 600
    assert summary["stored"]["lost"] == summary["stored"]["malformed"] == 0
    assert summary["stored"]["evicted_files"] > 0
    assert summary["actor"]["learner_steps"] > 0  # the live cache trained the learner online
    assert summary["sidecar"]["records"] == summary["stored"]["records"]
    workdir = re.search(r"workdir (\S+)", proc.stdout).group(1)
    assert not Path(workdir).exists()


def _ports_free(tcp: list[int], udp: list[int]) -> bool:
    for port, kind in [(p, socket.SOCK_STREAM) for p in tcp] + [(p, socket.SOCK_DGRAM) for p in udp]:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.faults
def test_ctrl_c_stops_every_part_and_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the remote actor needs: pip install 'iroko_gym[remote]'")
    proc = subprocess.Popen(_command("--length", "0", "--rollout-steps", "64"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path, start_new_session=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"redis pid (\d+) on 127\.0\.0\.1:(\d+), sidecar pid (\d+) on 127\.0\.0\.1:(\d+), "
                          r"actor on 127\.0\.0\.1:(\d+), workdir (\S+)", line)
        assert found, line + proc.stderr.read()
        redis_pid, redis_port, sidecar_pid, sidecar_port, actor_port = map(int, found.groups()[:5])
        workdir = Path(found.group(6))
        deadline = time.monotonic() + 60
        while not any(workdir.joinpath("cache").rglob("*.root")):  # accesses are flowing
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "(stopped early)" in out
    assert not _alive(redis_pid) and not _alive(sidecar_pid)
    assert not workdir.exists()
    assert _ports_free([redis_port, actor_port], [sidecar_port])
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _mentions(p, str(workdir))]
    assert leftovers == []


def _mentions(pid: str, text: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


@pytest.mark.faults
def test_bad_input_exits_2_and_leaves_nothing(tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("iroko-xcache-*"))
    bad_size = subprocess.run(_command("--cache-size-tb", "0"), capture_output=True, text=True, timeout=60,
                              env=_env(), cwd=tmp_path)
    assert bad_size.returncode == 2 and "cache_size_tb" in bad_size.stderr
    bad_window = subprocess.run(_command("--window", "-1"), capture_output=True, text=True, timeout=60,
                                env=_env(), cwd=tmp_path)
    assert bad_window.returncode == 2 and "window=-1" in bad_window.stderr
    # the sidecar refuses its policy: the deployment says so and tears down what it had started
    bad_policy = subprocess.run(_command("--actor", "policy", "--policy", "no_such_module:agent", "--length", "10"),
                                capture_output=True, text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert bad_policy.returncode == 2
    assert "did not start listening" in bad_policy.stderr and "no_such_module" in bad_policy.stderr
    assert set(Path(tempfile.gettempdir()).glob("iroko-xcache-*")) == before


@pytest.mark.faults
def test_the_sidecar_command_refuses_bad_arguments(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "iroko_gym.xcache.service", "--cache-dir", str(tmp_path / "nope"),
                           "--cache-size-tb", "1", "--redis", "redis://127.0.0.1:1/0", "--actor", "policy"],
                          capture_output=True, text=True, timeout=60, env=_env(), cwd=tmp_path)
    assert proc.returncode == 2 and "is not a directory" in proc.stderr
