"""iroko-tm's command line and the TrafficManager driver, without root.

The driver's protocol handling is exercised against a fake manager (a small Python
script speaking the same line protocol), so timeouts, rejections and crashes are
tested without namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from iroko_gym.dc import traffic_manager
from iroko_gym.dc.traffic_manager import TrafficManager, traffic_manager_binary
from iroko_gym.errors import ActionError, ConfigError, DependencyError, EmulationError

def run_tm(binary: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=10
    )


def test_help_documents_protocol_and_exit_codes(tm_binary: Path) -> None:
    result = run_tm(tm_binary, "--help")
    assert result.returncode == 0
    for needle in (
        "NETNS_PATH:IFNAME",
        "--initial-rate-bps",
        "--burst-bytes",
        "--handle-major",
        "--cleanup",
        "ready <n>",
        "<seq> <rate_0> ... <rate_{n-1}>",
        "ok <seq>",
        "err <seq|->",
        "Exit status",
    ):
        assert needle in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([], "no targets"),
        (["no-colon-here"], "'no-colon-here'"),
        ([":eth0"], "':eth0'"),
        (["/proc/1/ns/net:"], "'/proc/1/ns/net:'"),
        (["/proc/1/ns/net:an-interface-name-too-long"], "an-interface-name-too-long"),
        (["--initial-rate-bps", "-5", "/x:eth0"], "'-5'"),
        (["--initial-rate-bps", "0", "/x:eth0"], "'0'"),
        (["--initial-rate-bps", "1.5e6", "/x:eth0"], "'1.5e6'"),
        (["--initial-rate-bps", "0x1000", "/x:eth0"], "'0x1000'"),
        (["--initial-rate-bps", "34359738361", "/x:eth0"], "'34359738361'"),
        (["--burst-bytes", "0", "/x:eth0"], "--burst-bytes '0'"),
        (["--handle-major", "65535", "/x:eth0"], "--handle-major '65535'"),
        (["--bogus", "/x:eth0"], "'--bogus'"),
        (["/x:eth0", "--initial-rate-bps"], "'--initial-rate-bps' needs a value"),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(
    tm_binary: Path, args: list[str], named: str
) -> None:
    result = run_tm(tm_binary, *args)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert result.stdout == ""  # no 'ready'


def test_unopenable_namespace_exits_1_naming_it(tm_binary: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-netns"
    result = run_tm(tm_binary, f"{missing}:eth0")
    assert result.returncode == 1
    assert str(missing) in result.stderr
    assert "ready" not in result.stdout


# --- the Python driver ------------------------------------------------------------------

FAKE_TM = textwrap.dedent(
    """
    # Fake iroko-tm: speaks the line protocol; behaviour chosen by $FAKE_TM_MODE.
    import os, sys, time
    mode = os.environ.get("FAKE_TM_MODE", "ok")
    log = open(os.environ["FAKE_TM_LOG"], "a")
    log.write(" ".join(sys.argv[1:]) + "\\n"); log.flush()
    targets = [a for a in sys.argv[1:] if ":" in a]
    if mode == "fail-start":
        sys.stderr.write("cannot open namespace '/nowhere'\\n"); sys.exit(1)
    if mode == "silent-start":
        time.sleep(30)
    print(f"ready {len(targets)}", flush=True)
    for line in sys.stdin:
        log.write(line); log.flush()
        words = line.split()
        if words == ["q"]:
            break
        if mode == "silent":
            continue
        if mode == "crash":
            sys.stderr.write("boom: netlink socket vanished\\n"); sys.exit(3)
        if mode == "err":
            print(f"err {words[0]} 1 Object not found", flush=True)
        elif mode == "stale":
            print(f"ok {int(words[0]) - 1}\\nok {words[0]}", flush=True)
        else:
            print(f"ok {words[0]}", flush=True)
    """
)


@pytest.fixture
def fake_tm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point IROKO_TM at the fake manager; returns the log of its argv and stdin lines."""
    script = tmp_path / "fake-iroko-tm"
    script.write_text(f"#!{sys.executable}\n{FAKE_TM}")
    script.chmod(0o755)
    log = tmp_path / "fake.log"
    log.touch()
    monkeypatch.setenv("IROKO_TM", str(script))
    monkeypatch.setenv("FAKE_TM_LOG", str(log))
    return log


TARGETS = [("/run/netns/a", "h1-eth0"), ("/run/netns/b", "h2-eth0")]


def test_binary_lookup_prefers_env_var(fake_tm: Path) -> None:
    assert traffic_manager_binary() == Path(os.environ["IROKO_TM"])


def test_binary_lookup_rejects_bad_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IROKO_TM", str(tmp_path / "missing"))
    with pytest.raises(DependencyError, match="IROKO_TM="):
        traffic_manager_binary()


def test_binary_lookup_missing_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("IROKO_TM", raising=False)
    monkeypatch.setattr(traffic_manager, "_REPO_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DependencyError, match=r"\./install\.sh \(make -C traffic_managers\)"):
        traffic_manager_binary()


def test_driver_finds_the_built_binary(tm_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IROKO_TM", raising=False)
    assert traffic_manager_binary() == tm_binary


@pytest.mark.parametrize(
    ("targets", "kwargs", "named"),
    [
        ([], {}, "at least one"),
        ([("/run/netns/a", "")], {}, "interface name ''"),
        ([("/run/netns/a", "x" * 16)], {}, "interface name"),
        ([("/run/netns/a", "eth:0")], {}, "'eth:0'"),
        ([("", "eth0")], {}, "netns path ''"),
        (TARGETS, {"initial_rate_bps": 0}, "initial_rate_bps=0"),
        (TARGETS, {"initial_rate_bps": 1.5e6}, "initial_rate_bps=1500000.0"),
        (TARGETS, {"initial_rate_bps": 2**40}, "initial_rate_bps="),
        (TARGETS, {"burst_bytes": 0}, "burst_bytes=0"),
        (TARGETS, {"handle_major": 0}, "handle_major=0"),
        (TARGETS, {"reply_timeout_s": 0}, "reply_timeout_s=0"),
    ],
)
def test_driver_rejects_bad_config_before_starting(
    fake_tm: Path, targets: list[tuple[str, str]], kwargs: dict[str, object], named: str
) -> None:
    kwargs = {"initial_rate_bps": 10_000_000, **kwargs}
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        TrafficManager(targets, **kwargs)  # type: ignore[arg-type]
    assert fake_tm.read_text() == ""  # nothing was started


def test_driver_passes_options_and_sends_one_line_per_step(fake_tm: Path) -> None:
    with TrafficManager(TARGETS, 5_000_000, burst_bytes=4000, cleanup_on_exit=True) as tm:
        assert tm.num_targets == 2
        np.testing.assert_array_equal(tm.applied_rates_bps, [5_000_000, 5_000_000])
        latency = tm.set_rates(np.array([1e6, 2.4e6]))
        assert 0 < latency < 1.0
        tm.set_rates([3_000_000, 4_000_000])
        np.testing.assert_array_equal(tm.applied_rates_bps, [3_000_000, 4_000_000])
    lines = fake_tm.read_text().splitlines()
    assert lines[0] == (
        "--handle-major 1 --initial-rate-bps 5000000 --burst-bytes 4000 --cleanup"
        " /run/netns/a:h1-eth0 /run/netns/b:h2-eth0"
    )
    assert lines[1:] == ["1 1000000 2400000", "2 3000000 4000000", "q"]


@pytest.mark.parametrize(
    ("rates", "named"),
    [
        ([1e6], "expected 2 rates"),
        ([[1e6, 1e6]], "expected 2 rates"),
        ([1e6, float("nan")], "rate 1 = nan"),
        ([float("inf"), 1e6], "rate 0 = inf"),
        ([0, 1e6], "rate 0 = 0.0"),
        ([1e6, -5], "rate 1 = -5.0"),
        ([1e6, 2**40], "rate 1 = "),
        (["fast", "slow"], "not numbers"),
    ],
)
def test_set_rates_rejects_bad_actions_without_sending(
    fake_tm: Path, rates: list[object], named: str
) -> None:
    with TrafficManager(TARGETS, 5_000_000) as tm:
        with pytest.raises(ActionError, match=named):
            tm.set_rates(rates)  # type: ignore[arg-type]
        np.testing.assert_array_equal(tm.applied_rates_bps, [5_000_000, 5_000_000])
    assert fake_tm.read_text().splitlines()[1:] == ["q"]


def test_start_failure_raises_with_exit_code_and_stderr(
    fake_tm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "fail-start")
    expected = r"failed to start: .*exit code 1; stderr: cannot open namespace '/nowhere'"
    with pytest.raises(EmulationError, match=expected):
        TrafficManager(TARGETS, 5_000_000)


def test_start_timeout_raises_and_kills(fake_tm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "silent-start")
    start = time.monotonic()
    with pytest.raises(EmulationError, match="no 'ready' within 0.5 s"):
        TrafficManager(TARGETS, 5_000_000, ready_timeout_s=0.5)
    assert time.monotonic() - start < 5


def test_real_binary_start_failure_names_the_namespace(
    tm_binary: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IROKO_TM", str(tm_binary))
    missing = tmp_path / "gone"
    with pytest.raises(EmulationError, match=f"exit code 1; stderr: .*{missing}"):
        TrafficManager([(str(missing), "eth0")], 5_000_000)


def test_err_reply_raises_naming_the_message(
    fake_tm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "err")
    with TrafficManager(TARGETS, 5_000_000) as tm:
        with pytest.raises(EmulationError, match="rejected command 1 .*: 1 Object not found"):
            tm.set_rates([1e6, 2e6])
        np.testing.assert_array_equal(tm.applied_rates_bps, [5_000_000, 5_000_000])


def test_no_reply_times_out_instead_of_hanging(
    fake_tm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "silent")
    tm = TrafficManager(TARGETS, 5_000_000, reply_timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(EmulationError, match="no reply to command 1 within 0.3 s"):
        tm.set_rates([1e6, 2e6])
    assert time.monotonic() - start < 3
    with pytest.raises(EmulationError, match="closed"):
        tm.set_rates([1e6, 2e6])
    tm.close()
    tm.close()


def test_crash_raises_with_exit_code_and_stderr(
    fake_tm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "crash")
    tm = TrafficManager(TARGETS, 5_000_000)
    with pytest.raises(EmulationError, match="exit code 3; stderr: boom: netlink socket vanished"):
        tm.set_rates([1e6, 2e6])
    tm.close()
    tm.close()


def test_late_replies_to_earlier_commands_are_skipped(
    fake_tm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TM_MODE", "stale")
    with TrafficManager(TARGETS, 5_000_000) as tm:
        tm.set_rates([1e6, 2e6])
        tm.set_rates([3e6, 4e6])
        np.testing.assert_array_equal(tm.applied_rates_bps, [3_000_000, 4_000_000])


def test_set_rates_works_inside_a_gevent_greenlet(fake_tm: Path) -> None:
    import gevent  # a hard dependency; the env steps from greenlets without monkey-patching
    with TrafficManager(TARGETS, 5_000_000) as tm:
        latency = gevent.spawn(tm.set_rates, [1e6, 2e6]).get(timeout=5)
        assert 0 < latency < 1.0
        np.testing.assert_array_equal(tm.applied_rates_bps, [1_000_000, 2_000_000])
