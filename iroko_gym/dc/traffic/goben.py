"""Python side of goben, our Go traffic generator (see docs/goben.md).

This module finds the binary, writes schedule files, builds the argv of the server and the client
(the environment runs them inside host namespaces itself) and reads the per-flow records that
the client and the server write. It starts no process.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from iroko_gym.atomic import atomic_write_text
from iroko_gym.dc.binaries import find_binary
from iroko_gym.errors import ConfigError, TraceError
from iroko_gym.validate import is_int, is_real

#: Environment variable that names the goben binary explicitly.
GOBEN_ENV = "IROKO_GOBEN"

SCHEDULE_HEADER = ("flow_id", "start_ms", "dst_ip", "dst_port", "bytes", "proto")
FLOW_RECORD_HEADER = (
    "flow_id", "src", "dst", "proto", "bytes_requested", "bytes_sent", "start_ns", "end_ns", "status",
)
UDP_RECORD_HEADER = ("flow_id", "src", "proto", "bytes_received", "packets", "first_ns", "last_ns")

PROTOCOLS = ("tcp", "udp")
#: Flow ids (and --src-name) are printable ASCII without spaces, commas and quotes, <= 128 bytes.
_ID_RE = re.compile(r'[!#-+\--~]{1,128}')
_STATUSES = ("done", "timeout", "stopped")
_UDP_HEADER_FIXED = 24
_MAX_UDP_PAYLOAD = 65507


@dataclass(frozen=True)
class FlowRecord:
    """One flow as recorded by ``goben client``; times are wall-clock UNIX nanoseconds."""

    flow_id: str
    src: str
    dst: str
    proto: str
    bytes_requested: int
    bytes_sent: int
    start_ns: int  # 0: the run stopped before the flow's start time
    end_ns: int
    status: str  # done | timeout | stopped | error:<reason>

    @property
    def done(self) -> bool:
        """True if the flow completed (TCP: acked by the server; UDP: all datagrams sent)."""
        return self.status == "done"

    @property
    def started(self) -> bool:
        """False for flows whose start time had not come when the run stopped."""
        return self.start_ns != 0

    @property
    def fct_s(self) -> float | None:
        """Flow completion time in seconds, or None for a flow that did not complete."""
        return (self.end_ns - self.start_ns) / 1e9 if self.done else None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end whatever the status (None if never started)."""
        return (self.end_ns - self.start_ns) / 1e9 if self.started else None


@dataclass(frozen=True)
class UdpFlowRecord:
    """One UDP flow as seen by ``goben server --records``."""

    flow_id: str
    src: str
    proto: str
    bytes_received: int
    packets: int
    first_ns: int
    last_ns: int


def goben_binary() -> Path:
    """Return the goben binary: $IROKO_GOBEN, else <repo>/goben/goben, else ``goben`` on PATH."""
    return find_binary("goben", GOBEN_ENV, _repo_binary(), "run ./install.sh (builds goben/ with go build)")


def _repo_binary() -> Path:
    """Where ./install.sh builds goben in a source checkout."""
    return Path(__file__).resolve().parents[3] / "goben" / "goben"


def _check_id(value: object, what: str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _ID_RE.fullmatch(text):
        raise ConfigError(
            f"{what} {value!r}: want 1-128 printable ASCII characters without spaces, commas or quotes"
        )
    return text


def _schedule_row(row: Sequence[object], n: int, seen: set[str]) -> list[str]:
    """Validate one schedule row (row numbers start at 1) and format it as CSV fields."""
    if isinstance(row, (str, bytes)) or len(row) != len(SCHEDULE_HEADER):
        raise ConfigError(f"schedule row {n}: {row!r} is not a 6-tuple {SCHEDULE_HEADER}")
    flow_id, start_ms, dst_ip, dst_port, size, proto = row

    def bad(field: str, value: object, want: str) -> ConfigError:
        return ConfigError(f"schedule row {n} field {field}: {value!r} {want}")

    fid = _check_id(flow_id, f"schedule row {n} field flow_id:")
    if fid in seen:
        raise bad("flow_id", flow_id, "is used twice; flow ids must be unique")
    seen.add(fid)
    if not is_real(start_ms) or start_ms < 0:  # type: ignore[operator]
        raise bad("start_ms", start_ms, "is not a finite number >= 0")
    try:
        ip = ipaddress.ip_address(str(dst_ip))
    except ValueError:
        raise bad("dst_ip", dst_ip, "is not an IPv4 or IPv6 address") from None
    if not is_int(dst_port) or not 1 <= dst_port <= 65535:  # type: ignore[operator]
        raise bad("dst_port", dst_port, "is not a port in 1..65535")
    if not is_int(size) or size < 0:  # type: ignore[operator]
        raise bad("bytes", size, "is not an integer >= 0 (0 = unlimited)")
    if proto not in PROTOCOLS:
        raise bad("proto", proto, f"is not one of {PROTOCOLS}")
    return [fid, repr(float(start_ms)), str(ip), str(int(dst_port)), str(int(size)), str(proto)]


def write_schedule(path: str | os.PathLike[str], flows: Iterable[Sequence[object]]) -> Path:
    """Validate ``flows`` and write them as a goben schedule CSV, atomically (temp + rename).

    Each flow is a 6-sequence ``(flow_id, start_ms, dst_ip, dst_port, bytes, proto)``. Raises ConfigError naming the row (1-based) and field of a bad value.
    """
    seen: set[str] = set()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SCHEDULE_HEADER)
    for n, row in enumerate(flows, start=1):
        writer.writerow(_schedule_row(row, n, seen))
    # 0644 whatever the umask: the client may run as another user.
    return atomic_write_text(path, out.getvalue(), encoding="ascii", mode=0o644)


def server_argv(
    port: int,
    records: str | os.PathLike[str] | None = None,
    *,
    bind: str | None = None,
    binary: str | os.PathLike[str] | None = None,
) -> list[str]:
    """argv of ``goben server`` on ``port`` (0 = the OS picks; the server prints it on stdout)."""
    if not is_int(port) or not 0 <= port <= 65535:
        raise ConfigError(f"goben server port {port!r}: want an integer in 0..65535")
    argv = [str(binary if binary is not None else goben_binary()), "server", "--port", str(int(port))]
    if bind is not None:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ConfigError(f"goben server bind {bind!r}: not an IP address") from None
        argv += ["--bind", bind]
    if records is not None:
        argv += ["--records", os.fspath(records)]
    return argv


def client_argv(
    schedule: str | os.PathLike[str],
    records: str | os.PathLike[str],
    *,
    src_name: str,
    duration_s: float | None = None,
    rate_mbps: float | None = None,
    payload_bytes: int = 1400,
    congestion_control: str | None = None,
    binary: str | os.PathLike[str] | None = None,
) -> list[str]:
    """argv of ``goben client`` running ``schedule`` and writing ``records``.

    ``congestion_control`` sets TCP_CONGESTION on every TCP socket (None: the namespace's
    default); per socket, so no system-wide sysctl is changed.

    ``duration_s`` stops every flow after that many seconds (None: no limit); ``rate_mbps`` paces
    each flow in user space (None or 0: unpaced); ``payload_bytes`` is the UDP datagram payload
    size, goben's header included.
    """
    _check_id(src_name, "goben client src_name")
    argv = [
        str(binary if binary is not None else goben_binary()), "client",
        "--schedule", os.fspath(schedule), "--records", os.fspath(records), "--src-name", src_name,
    ]
    if duration_s is not None:
        if not is_real(duration_s) or duration_s <= 0:
            raise ConfigError(f"goben client duration_s {duration_s!r}: want a finite number > 0 (or None)")
        argv += ["--duration-s", repr(float(duration_s))]
    if rate_mbps is not None:
        if not is_real(rate_mbps) or rate_mbps < 0:
            raise ConfigError(f"goben client rate_mbps {rate_mbps!r}: want a finite number >= 0 (0 = unpaced)")
        argv += ["--rate-mbps", repr(float(rate_mbps))]
    if not is_int(payload_bytes) or not _UDP_HEADER_FIXED < payload_bytes <= _MAX_UDP_PAYLOAD:
        raise ConfigError(
            f"goben client payload_bytes {payload_bytes!r}: "
            f"want an integer in {_UDP_HEADER_FIXED + 1}..{_MAX_UDP_PAYLOAD}"
        )
    argv += ["--payload-bytes", str(int(payload_bytes))]
    if congestion_control is not None:
        argv += ["--cc", _check_id(congestion_control, "goben client congestion_control")]
    return argv


def _read_rows(path: str | os.PathLike[str], header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """Complete data lines of a records file with their line numbers.

    A last line without its newline is a record cut short by a crash and is dropped; anything
    else malformed raises TraceError naming the line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"goben records {p}: cannot read ({e.strerror})") from e
    lines = text.split("\n")
    lines.pop()  # "" after the final newline, or the truncated last line
    if not lines:
        if text:  # a header cut short
            return []
        raise TraceError(f"goben records {p}: empty file; want header {','.join(header)}")
    if tuple(lines[0].split(",")) != header:
        raise TraceError(f"goben records {p} line 1: header is {lines[0]!r}; want {','.join(header)}")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != len(header):
            raise TraceError(f"goben records {p} line {lineno}: {len(fields)} fields, want {len(header)}: {line!r}")
        rows.append((lineno, fields))
    return rows


def _int_field(p: object, lineno: int, name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise TraceError(f"goben records {p} line {lineno} field {name}: {value!r} is not an integer") from None
    if n < 0:
        raise TraceError(f"goben records {p} line {lineno} field {name}: {value!r} is negative")
    return n


def read_flow_records(path: str | os.PathLike[str]) -> list[FlowRecord]:
    """Read a ``goben client`` records file (tolerates a truncated last line)."""
    out = []
    for lineno, f in _read_rows(path, FLOW_RECORD_HEADER):
        status = f[8]
        if status not in _STATUSES and not (status.startswith("error:") and len(status) > 6):
            raise TraceError(f"goben records {path} line {lineno} field status: {status!r} is not a goben status")
        if f[3] not in PROTOCOLS:
            raise TraceError(f"goben records {path} line {lineno} field proto: {f[3]!r} is not tcp or udp")
        nums = [_int_field(path, lineno, FLOW_RECORD_HEADER[i], f[i]) for i in (4, 5, 6, 7)]
        out.append(FlowRecord(f[0], f[1], f[2], f[3], *nums, status))
    return out


def read_udp_records(path: str | os.PathLike[str]) -> list[UdpFlowRecord]:
    """Read a ``goben server --records`` file (tolerates a truncated last line)."""
    out = []
    for lineno, f in _read_rows(path, UDP_RECORD_HEADER):
        nums = [_int_field(path, lineno, UDP_RECORD_HEADER[i], f[i]) for i in (3, 4, 5, 6)]
        out.append(UdpFlowRecord(f[0], f[1], f[2], *nums))
    return out
