"""Faults injected into a DC env's life, each at an exact point (no timing): what is left behind.

Each child process builds an env and is hit at a chosen instant by patching the step that
precedes it; the parent then checks that the env's record, links and processes are gone
(after the next start's reaper, where the promise is "cleaned by the next start").
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from pyroute2 import IPRoute

from iroko_gym.dc.registry import RUN_DIR, reap_stale, tagged_processes

pytestmark = [pytest.mark.emulation, pytest.mark.faults]


def _links_with(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        return [n for n in (link.get("ifname") for link in ipr.get_links()) if n.startswith(prefix)]


def _child(tmp_path, patch: str, topology: str = "dumbbell") -> tuple[int, str]:
    """Run an env in a child with ``patch`` applied; returns (exit status, prefix it printed)."""
    # A child started from a background job inherits SIGINT ignored (POSIX, without job control),
    # and Python then keeps it ignored: give it the handlers an interactive Python has, so a
    # signal sent to it means what it means at a terminal, however the tests were launched.
    script = textwrap.dedent("""
        import os, signal, sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        import gymnasium as gym
        import iroko_gym
        from iroko_gym.dc import registry
        {patch}
        env = gym.make("dc-iroko-v0", topology={topology!r}, output_dir={out!r})
        env.reset(seed=0)
        print("reset returned", flush=True)
    """).format(patch=textwrap.indent(textwrap.dedent(patch), "").strip(), topology=topology,
                out=str(tmp_path / "out"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    prefixes = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("prefix ")]
    assert prefixes, f"the child never reached the fault point: {proc.stdout} {proc.stderr[-2000:]}"
    return proc.returncode, prefixes[0]


def _assert_gone(prefix: str) -> None:
    assert not (RUN_DIR / f"{prefix}.json").exists()
    assert _links_with(prefix) == []
    deadline = time.monotonic() + 5  # SIGKILLed processes take a moment to be reaped by init
    while tagged_processes(prefix) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tagged_processes(prefix) == []


KILL_AFTER_GOBEN_STARTS = """
    real_add = registry.Ownership.add_process
    def add_process(self, pid):
        if b"goben" in open(f"/proc/{pid}/cmdline", "rb").read():
            print("prefix", self.prefix, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # started, not yet recorded
        real_add(self, pid)
    registry.Ownership.add_process = add_process
"""


def test_kill_9_between_a_process_start_and_its_record_is_reaped_by_the_next_start(tmp_path):
    status, prefix = _child(tmp_path, KILL_AFTER_GOBEN_STARTS)
    assert status == -signal.SIGKILL
    record = json.loads((RUN_DIR / f"{prefix}.json").read_text())
    recorded = {pid for pid, _ in record["processes"]}
    unrecorded = [pid for pid, _ in tagged_processes(prefix) if pid not in recorded]
    assert unrecorded, "the fault did not leave an unrecorded process: the test would prove nothing"
    assert prefix in reap_stale()
    _assert_gone(prefix)


def test_a_half_written_record_of_a_dead_writer_is_removed_by_the_next_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    tmp = RUN_DIR / f".i0dead.json.{dead.pid}.0123abcd.tmp"
    tmp.write_text('{"prefix": "i0de')
    reap_stale()
    assert not tmp.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("topology", ["dumbbell", "fattree"])
def test_a_signal_during_the_first_reset_removes_the_half_built_network(tmp_path, signum, topology):
    hook = "_configure_ports" if topology == "dumbbell" else "_configure"
    patch = f"""
        from iroko_gym.dc.backends import bridged, routed
        cls = bridged.BridgedBackend if {topology!r} == "dumbbell" else routed.RoutedBackend
        real = getattr(cls, {hook!r})
        def hit(self, *args):
            print("prefix", self.prefix, flush=True)
            os.kill(os.getpid(), {int(signum)})  # links and node shells exist, nothing configured
            return real(self, *args)
        setattr(cls, {hook!r}, hit)
    """
    status, prefix = _child(tmp_path, patch, topology)
    assert status != 0  # the process still stops
    _assert_gone(prefix)  # and takes its half-built network with it, without waiting for a next start


def test_a_second_live_env_on_the_same_output_dir_is_refused_and_leaves_nothing(tmp_path):
    import gymnasium as gym

    from iroko_gym.errors import ConfigError

    first = gym.make("dc-iroko-v0", output_dir=str(tmp_path))
    second = gym.make("dc-iroko-v0", output_dir=str(tmp_path))
    try:
        _, info = first.reset(seed=0)
        with pytest.raises(ConfigError, match="belongs to a live env") as err:
            second.reset(seed=0)
        assert str(tmp_path) in str(err.value) and info["prefix"] in str(err.value)
        assert second.unwrapped.prefix is None  # its network was removed again (the leak check confirms)
        first.close()
        second.reset(seed=0)  # free once the first env is gone
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("where", ["/proc/iroko-out", "/etc/hostname/out"])
def test_an_unusable_output_dir_fails_at_reset_with_the_path_and_the_reason(where):
    import gymnasium as gym

    from iroko_gym.errors import ConfigError

    env = gym.make("dc-iroko-v0", output_dir=where)
    try:
        with pytest.raises(ConfigError, match="cannot be used") as err:
            env.reset(seed=0)
        assert where in str(err.value) and ("Not a directory" in str(err.value) or "No such file" in str(err.value))
    finally:
        env.close()


@pytest.mark.parametrize("topology", ["dumbbell", "fattree"])
def test_an_env_closed_leaves_no_open_descriptor_in_its_process(tmp_path, topology):
    import os

    import gymnasium as gym
    import numpy as np

    def cycle(out):
        env = gym.make("dc-iroko-v0", topology=topology, output_dir=str(out), socket_stats=True)
        try:
            env.reset(seed=0)
            env.step(np.ones(env.action_space.shape, dtype=np.float32))
            env.reset(seed=1)
        finally:
            env.close()

    cycle(tmp_path / "warm")  # first use opens the process's lasting descriptors (gevent hub, imports)
    before = sorted(os.listdir("/proc/self/fd"))
    cycle(tmp_path / "measured")
    assert sorted(os.listdir("/proc/self/fd")) == before
