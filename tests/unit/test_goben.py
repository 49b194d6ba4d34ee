"""goben: Go unit tests, the Python wrapper, and the binary end to end on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from iroko_gym.dc.traffic import goben
from iroko_gym.dc.traffic.goben import (
    FlowRecord,
    client_argv,
    read_flow_records,
    read_udp_records,
    server_argv,
    write_schedule,
)
from iroko_gym.errors import ConfigError, DependencyError, TraceError

GOBEN_SRC = Path(__file__).resolve().parents[2] / "goben"
LOOPBACK = "127.0.0.1"


def _go_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOCACHE", "/tmp/gocache")
    env.setdefault("GOFLAGS", "-mod=mod")
    env.setdefault("GOPATH", str(tmp / "gopath"))
    return env


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain (golang-go) is not installed")
    return go


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """goben built from the working tree (not a possibly stale goben/goben)."""
    out = tmp_path_factory.mktemp("goben") / "goben"
    proc = subprocess.run(
        [_go(), "build", "-trimpath", "-o", str(out), "."],
        cwd=GOBEN_SRC, env=_go_env(out.parent), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    return out


# --- Go unit tests ------------------------------------------------------------------------------


def test_go_unit_tests(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_go(), "test", "-count=1", "./..."],
        cwd=GOBEN_SRC, env=_go_env(tmp_path), capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- wrapper (no binary needed) -----------------------------------------------------------------


def test_write_schedule_formats_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    rows = [
        ("f1", 0, "10.0.0.2", 5001, 1000, "tcp"),
        (7, 12.5, "fd00::1", 80, 0, "udp"),
        ("np", np.float64(1.25), "10.0.0.3", np.int64(5001), np.int64(3), "tcp"),  # pattern generators use numpy
    ]
    assert write_schedule(path, rows) == path
    assert path.read_text() == (
        "flow_id,start_ms,dst_ip,dst_port,bytes,proto\n"
        "f1,0.0,10.0.0.2,5001,1000,tcp\n"
        "7,12.5,fd00::1,80,0,udp\n"
        "np,1.25,10.0.0.3,5001,3,tcp\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]  # no temp file left behind
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("a b", 0, "10.0.0.1", 1, 1, "tcp"), "row 2 field flow_id"),
        (("x", 0, "10.0.0.1", 1, 1, "tcp"), "row 2 field flow_id: 'x' is used twice"),
        (("y", -1, "10.0.0.1", 1, 1, "tcp"), "row 2 field start_ms"),
        (("y", float("nan"), "10.0.0.1", 1, 1, "tcp"), "row 2 field start_ms"),
        (("y", True, "10.0.0.1", 1, 1, "tcp"), "row 2 field start_ms"),
        (("y", 0, "h2", 1, 1, "tcp"), "row 2 field dst_ip: 'h2'"),
        (("y", 0, "10.0.0.1", 0, 1, "tcp"), "row 2 field dst_port"),
        (("y", 0, "10.0.0.1", "80", 1, "tcp"), "row 2 field dst_port"),
        (("y", 0, "10.0.0.1", 80, 1.5, "tcp"), "row 2 field bytes"),
        (("y", 0, "10.0.0.1", 80, -1, "tcp"), "row 2 field bytes"),
        (("y", 0, "10.0.0.1", 80, 1, "TCP"), "row 2 field proto"),
        (("y", 0, "10.0.0.1", 80), "row 2: "),
    ],
)
def test_write_schedule_rejects_bad_rows(tmp_path: Path, row: tuple, message: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text("previous\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        write_schedule(path, [("x", 0, "10.0.0.1", 5001, 10, "tcp"), row])
    assert path.read_text() == "previous\n"  # atomic: the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def test_argv_builders() -> None:
    assert server_argv(5001, "/r/s.csv", bind="10.0.0.1", binary="/b/goben") == [
        "/b/goben", "server", "--port", "5001", "--bind", "10.0.0.1", "--records", "/r/s.csv",
    ]
    assert server_argv(0, binary="/b/goben") == ["/b/goben", "server", "--port", "0"]
    assert client_argv("/s.csv", "/r.csv", src_name="h1", duration_s=2, rate_mbps=10, binary="/b/goben") == [
        "/b/goben", "client", "--schedule", "/s.csv", "--records", "/r.csv", "--src-name", "h1",
        "--duration-s", "2.0", "--rate-mbps", "10.0", "--payload-bytes", "1400",
    ]
    assert client_argv("s", "r", src_name="h1", payload_bytes=9000, binary="g")[-2:] == ["--payload-bytes", "9000"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: server_argv(70000, binary="g"),
        lambda: server_argv(5001, bind="h1", binary="g"),
        lambda: client_argv("s", "r", src_name="h 1", binary="g"),
        lambda: client_argv("s", "r", src_name="h1", duration_s=0, binary="g"),
        lambda: client_argv("s", "r", src_name="h1", rate_mbps=-1, binary="g"),
        lambda: client_argv("s", "r", src_name="h1", payload_bytes=10, binary="g"),
    ],
)
def test_argv_builders_reject_bad_values(call) -> None:
    with pytest.raises(ConfigError):
        call()


def test_goben_binary_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "goben"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("IROKO_GOBEN", str(exe))
    assert goben.goben_binary() == exe
    monkeypatch.setenv("IROKO_GOBEN", str(tmp_path / "missing"))
    with pytest.raises(DependencyError, match="IROKO_GOBEN"):
        goben.goben_binary()
    monkeypatch.delenv("IROKO_GOBEN")
    monkeypatch.setattr(goben, "_repo_binary", lambda: tmp_path / "not-built")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert goben.goben_binary() == exe  # found on PATH
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DependencyError, match=r"run \./install\.sh"):
        goben.goben_binary()


RECORD_HEADER = "flow_id,src,dst,proto,bytes_requested,bytes_sent,start_ns,end_ns,status\n"


def test_read_flow_records_drops_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        RECORD_HEADER
        + "f1,h1,10.0.0.2,tcp,1000,1000,1000000000,1500000000,done\n"
        + "f2,h1,10.0.0.2,udp,0,5000,1000000000,3000000000,timeout\n"
        + "f3,h1,10.0.0.3,tcp,10,0,0,0,stopped\n"
        + "f4,h1,10.0.0.3,tcp,10,0,1000000000,1100000000,error:connection refused\n"
        + "f5,h1,10.0.0.2,tcp,1000,1000,1000000000,15"  # a crash in mid-line
    )
    recs = read_flow_records(path)
    assert [r.flow_id for r in recs] == ["f1", "f2", "f3", "f4"]
    assert recs[0] == FlowRecord("f1", "h1", "10.0.0.2", "tcp", 1000, 1000, 1_000_000_000, 1_500_000_000, "done")
    assert recs[0].fct_s == pytest.approx(0.5)
    assert recs[1].fct_s is None and recs[1].duration_s == pytest.approx(2.0)
    assert not recs[2].started and recs[2].duration_s is None
    assert recs[3].status == "error:connection refused" and not recs[3].done


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty file"),
        ("flow_id,src\n", "line 1: header"),
        (RECORD_HEADER + "f1,h1,10.0.0.2,tcp,1000\nf2,h1,10.0.0.2,tcp,1,1,1,1,done\n", "line 2: 5 fields"),
        (RECORD_HEADER + "f1,h1,10.0.0.2,tcp,1000,x,1,2,done\n", "line 2 field bytes_sent"),
        (RECORD_HEADER + "f1,h1,10.0.0.2,tcp,1000,1,1,2,finished\n", "line 2 field status"),
        (RECORD_HEADER + "f1,h1,10.0.0.2,sctp,1000,1,1,2,done\n", "line 2 field proto"),
    ],
)
def test_read_flow_records_is_strict_elsewhere(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(body)
    with pytest.raises(TraceError, match=message):
        read_flow_records(path)


def test_read_udp_records(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("flow_id,src,proto,bytes_received,packets,first_ns,last_ns\nu1,10.0.0.1,udp,2800,2,5,9\nu2,10.")
    (rec,) = read_udp_records(path)
    assert (rec.flow_id, rec.src, rec.bytes_received, rec.packets, rec.first_ns, rec.last_ns) == (
        "u1", "10.0.0.1", 2800, 2, 5, 9,
    )


# --- the binary end to end on loopback ----------------------------------------------------------


class Server:
    """A goben server on 127.0.0.1 with an OS-chosen port."""

    def __init__(self, binary: Path, records: Path) -> None:
        self.records = records
        argv = server_argv(0, records, bind=LOOPBACK, binary=binary)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(10)
        assert line and line[0].startswith("goben server listening tcp+udp 127.0.0.1:"), line
        self.port = int(line[0].rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def server(binary: Path, tmp_path: Path) -> Iterator[Server]:
    srv = Server(binary, tmp_path / "server.csv")
    yield srv
    assert srv.stop() == 0


def run_client(binary: Path, tmp_path: Path, rows: list[tuple], timeout: float = 30, **kw) -> tuple[
    subprocess.CompletedProcess[str], list[FlowRecord]
]:
    schedule = write_schedule(tmp_path / "schedule.csv", rows)
    records = tmp_path / "client.csv"
    argv = client_argv(schedule, records, src_name="h1", binary=binary, **kw)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return proc, (read_flow_records(records) if records.exists() else [])


@pytest.mark.integration
def test_tcp_and_udp_flows_complete(binary: Path, server: Server, tmp_path: Path) -> None:
    p = server.port
    rows = [
        ("t1", 0, LOOPBACK, p, 1_000_000, "tcp"),
        ("t2", 0, LOOPBACK, p, 1, "tcp"),
        ("t3", 300, LOOPBACK, p, 250_000, "tcp"),
        ("u1", 0, LOOPBACK, p, 50_000, "udp"),
        ("u2", 100, LOOPBACK, p, 10, "udp"),  # smaller than a header: one header-sized datagram
    ]
    proc, recs = run_client(binary, tmp_path, rows, rate_mbps=200)
    assert proc.returncode == 0, proc.stderr
    by_id = {r.flow_id: r for r in recs}
    assert sorted(by_id) == ["t1", "t2", "t3", "u1", "u2"]
    for r in recs:
        assert r.status == "done", r
        assert (r.src, r.dst) == ("h1", LOOPBACK)
        assert r.fct_s is not None and 0 <= r.fct_s < 5
    assert [by_id[f].bytes_sent for f in ("t1", "t2", "t3", "u1")] == [1_000_000, 1, 250_000, 50_000]
    assert by_id["u2"].bytes_sent == 24 + len("u2")
    # Flows start at their offsets: t3 is scheduled 300 ms after t1.
    assert by_id["t3"].start_ns - by_id["t1"].start_ns >= 290_000_000
    # 1 MB at 200 Mbit/s takes >= ~35 ms (the first chunk goes unpaced).
    assert by_id["t1"].fct_s >= 0.03

    # The server closes each UDP record when the last datagram arrives.
    deadline = time.monotonic() + 5
    while len(udp := read_udp_records(server.records)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    udp_by_id = {r.flow_id: r for r in udp}
    assert udp_by_id["u1"].bytes_received == 50_000
    assert udp_by_id["u1"].packets == 36  # ceil(50000 / 1400)
    assert udp_by_id["u2"].packets == 1
    assert all(r.src == LOOPBACK and r.first_ns <= r.last_ns for r in udp)


@pytest.mark.integration
def test_duration_times_out_unlimited_and_unstarted_flows(binary: Path, server: Server, tmp_path: Path) -> None:
    p = server.port
    rows = [
        ("tcp-forever", 0, LOOPBACK, p, 0, "tcp"),
        ("udp-forever", 0, LOOPBACK, p, 0, "udp"),
        ("later", 60_000, LOOPBACK, p, 100, "tcp"),
    ]
    t0 = time.monotonic()
    proc, recs = run_client(binary, tmp_path, rows, duration_s=0.5, rate_mbps=50)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert 0.5 <= elapsed < 3
    by_id = {r.flow_id: r for r in recs}
    for fid in ("tcp-forever", "udp-forever"):
        r = by_id[fid]
        assert r.status == "timeout" and r.fct_s is None
        assert 0.4 < r.duration_s < 1.5
        # paced at 50 Mbit/s for ~0.5 s: about 3 MB
        assert 1_500_000 < r.bytes_sent < 4_500_000, r
    assert not by_id["later"].started and by_id["later"].status == "timeout"
    # The client's end marker lets the server close the unlimited UDP flow's record.
    deadline = time.monotonic() + 5
    while not (udp := read_udp_records(server.records)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r.flow_id for r in udp] == ["udp-forever"]
    assert udp[0].bytes_received == by_id["udp-forever"].bytes_sent


@pytest.mark.integration
def test_sigterm_records_stopped_flows(binary: Path, server: Server, tmp_path: Path) -> None:
    schedule = write_schedule(tmp_path / "s.csv", [("forever", 0, LOOPBACK, server.port, 0, "tcp")])
    records = tmp_path / "r.csv"
    proc = subprocess.Popen(
        client_argv(schedule, records, src_name="h1", rate_mbps=100, binary=binary),
        stderr=subprocess.PIPE, text=True,
    )
    time.sleep(0.4)
    assert proc.poll() is None, "an unlimited flow without --duration-s must run until signalled"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    (rec,) = read_flow_records(records)
    assert rec.status == "stopped" and rec.bytes_sent > 1_000_000


@pytest.mark.integration
def test_server_flushes_open_udp_flows_on_sigterm(binary: Path, tmp_path: Path) -> None:
    srv = Server(binary, tmp_path / "server.csv")
    schedule = write_schedule(tmp_path / "s.csv", [("u", 0, LOOPBACK, srv.port, 0, "udp")])
    client = subprocess.Popen(client_argv(schedule, tmp_path / "r.csv", src_name="h1", rate_mbps=20, binary=binary))
    time.sleep(0.3)
    client.kill()  # no end marker: the flow stays open at the server
    client.wait(5)
    assert read_udp_records(srv.records) == []
    assert srv.stop() == 0
    (rec,) = read_udp_records(srv.records)
    assert rec.flow_id == "u" and rec.packets > 10 and rec.bytes_received == rec.packets * 1400


@pytest.mark.integration
def test_refused_connect_is_retried_then_recorded_as_error(binary: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind((LOOPBACK, 0))
        closed_port = s.getsockname()[1]
    t0 = time.monotonic()
    rows = [("t", 0, LOOPBACK, closed_port, 100, "tcp"), ("u", 0, LOOPBACK, closed_port, 10**9, "udp")]
    proc, recs = run_client(binary, tmp_path, rows, rate_mbps=20)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "2 of 2 flows failed" in proc.stderr
    by_id = {r.flow_id: r for r in recs}
    assert by_id["t"].status == "error:connection refused"
    assert by_id["u"].status == "error:port unreachable"  # ICMP port unreachable for ~2 s
    assert 1.5 < elapsed < 4  # retried for about 2 s, not forever


@pytest.mark.integration
def test_late_server_is_reached_by_retries(binary: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port = s.getsockname()[1]
    schedule = write_schedule(tmp_path / "s.csv", [("t", 0, LOOPBACK, port, 100_000, "tcp")])
    client = subprocess.Popen(client_argv(schedule, tmp_path / "r.csv", src_name="h1", binary=binary))
    time.sleep(0.3)
    srv = subprocess.Popen(server_argv(port, bind=LOOPBACK, binary=binary), stdout=subprocess.DEVNULL)
    try:
        assert client.wait(10) == 0
    finally:
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(5) == 0
    (rec,) = read_flow_records(tmp_path / "r.csv")
    assert rec.status == "done" and rec.bytes_sent == 100_000


@pytest.mark.integration
def test_bad_schedule_names_row_and_field(binary: Path, tmp_path: Path) -> None:
    schedule = tmp_path / "s.csv"
    schedule.write_text(
        "flow_id,start_ms,dst_ip,dst_port,bytes,proto\n"
        "a,0,127.0.0.1,5001,10,tcp\n"
        "b,0,127.0.0.1,5001,10,quic\n"
    )
    argv = client_argv(schedule, tmp_path / "r.csv", src_name="h1", binary=binary)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1
    assert "line 3 (row 2) field proto" in proc.stderr and "quic" in proc.stderr


@pytest.mark.integration
def test_cli_usage_version_and_bad_flags(binary: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=10)

    for args in (["--help"], ["server", "--help"], ["client", "--help"]):
        proc = run(*args)
        assert proc.returncode == 0 and "Usage" in proc.stdout and proc.stderr == ""
    assert run("--version").stdout.startswith("goben 0.")
    for args, needle in (
        ([], "missing sub-command"),
        (["serve"], "unknown sub-command"),
        (["server"], "--port is required"),
        (["server", "--port", "1", "--bind", "localhost"], "not an IP address"),
        (["client", "--schedule", "s"], "--records is required"),
        (["client", "--schedule", "s", "--records", "r", "--rate-mbps", "-1"], "--rate-mbps"),
        (["client", "--nope"], "flag provided but not defined"),
    ):
        proc = run(*args)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)


@pytest.mark.integration
def test_many_concurrent_short_flows(binary: Path, server: Server, tmp_path: Path) -> None:
    rows = [(f"f{i}", 0, LOOPBACK, server.port, 20_000, "tcp") for i in range(200)]
    proc, recs = run_client(binary, tmp_path, rows, duration_s=20)
    assert proc.returncode == 0, proc.stderr
    assert len(recs) == 200 and all(r.status == "done" and r.bytes_sent == 20_000 for r in recs)
    span_s = (max(r.end_ns for r in recs) - min(r.start_ns for r in recs)) / 1e9
    print(f"200 concurrent 20 kB TCP flows done in {span_s * 1000:.1f} ms", file=sys.stderr)
    assert span_s < 5


@pytest.mark.integration
def test_one_tcp_flow_exceeds_one_gbit(binary: Path, server: Server, tmp_path: Path) -> None:
    size = 300_000_000
    proc, (rec,) = run_client(binary, tmp_path, [("big", 0, LOOPBACK, server.port, size, "tcp")])
    assert proc.returncode == 0 and rec.done
    gbit_s = size * 8 / rec.fct_s / 1e9
    print(f"one TCP flow on loopback: {gbit_s:.1f} Gbit/s", file=sys.stderr)
    assert gbit_s >= 1.0
