"""Drive ``iroko-tm``, the C traffic manager that applies per-host rates as tc htb classes.

One ``iroko-tm`` process serves every host of an environment: it holds a netlink socket
open into each host's network namespace and, for each command line it reads, changes the
htb class rate of the hosts whose rate changed.  :class:`TrafficManager` starts it, sends
one command per step and waits (with a timeout, never forever) for its acknowledgement.
The protocol and exit codes are documented in ``docs/traffic_manager.md`` and
``iroko-tm --help``.

Note: the process pins the namespaces it serves (its sockets hold a reference), so close
it before expecting a deleted namespace and its interfaces to disappear.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from iroko_gym.dc.binaries import find_binary
from iroko_gym.errors import ActionError, ConfigError, DependencyError, EmulationError
from iroko_gym.validate import check_int

#: Lowest rate iroko-tm accepts (1 byte/s).  With the default burst (2 full frames) the
#: practical minimum is about 2.4 kbit/s: the bucket must drain within 10 s.
MIN_RATE_BPS = 8
#: libnl's htb API takes bytes/s as uint32.
MAX_RATE_BPS = (2**32 - 1) * 8
MAX_BURST_BYTES = 64 << 20
_IFNAMSIZ = 16
_REPO_ROOT = Path(__file__).resolve().parents[2]
_STDERR_TAIL_CHARS = 2000


def traffic_manager_binary() -> Path:
    """Locate ``iroko-tm``: ``$IROKO_TM``, then the repository build, then ``PATH``."""
    return find_binary(
        "iroko-tm", "IROKO_TM", _REPO_ROOT / "traffic_managers" / "iroko-tm",
        "build it with ./install.sh (make -C traffic_managers)",
    )


def _check_targets(targets: Sequence[tuple[str, str]]) -> list[str]:
    """Validate (namespace path, interface) pairs and return them as CLI arguments."""
    if len(targets) == 0:
        raise ConfigError("TrafficManager needs at least one (netns_path, ifname) target")
    args = []
    for i, target in enumerate(targets):
        if len(target) != 2:
            raise ConfigError(f"target {i} {target!r} must be a (netns_path, ifname) pair")
        ns_path, ifname = target
        if not isinstance(ns_path, str) or not ns_path:
            raise ConfigError(f"target {i}: netns path {ns_path!r} must be a non-empty string")
        if (
            not isinstance(ifname, str)
            or not 0 < len(ifname) < _IFNAMSIZ
            or any(c in ifname for c in ":/ \t\n")
        ):
            raise ConfigError(
                f"target {i}: interface name {ifname!r} must be 1..{_IFNAMSIZ - 1} characters"
                " without ':', '/' or whitespace"
            )
        args.append(f"{ns_path}:{ifname}")
    return args


class TrafficManager:
    """A running ``iroko-tm`` process for a fixed list of host interfaces.

    Use as a context manager; :meth:`close` is idempotent.  Not thread-safe: one caller
    (the environment's step) sends commands.  Blocking waits use ``poll`` on the pipe with
    a timeout, so they are short and safe in a gevent program without monkey-patching.
    """

    def __init__(
        self,
        targets: Sequence[tuple[str, str]],
        initial_rate_bps: int,
        *,
        burst_bytes: int | None = None,
        cleanup_on_exit: bool = False,
        handle_major: int = 1,
        reply_timeout_s: float = 1.0,
        ready_timeout_s: float = 10.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Start ``iroko-tm`` on ``targets`` (namespace path, interface name) and wait for it.

        ``burst_bytes=None`` lets iroko-tm choose a rate-dependent burst (1 ms of traffic,
        at least two full frames).  ``cleanup_on_exit`` removes the root qdiscs on close,
        for namespaces that outlive the environment.  ``environ``: the manager's environment
        (an env passes its ownership tag); default: this process's.
        """
        args = _check_targets(targets)
        initial = check_int("initial_rate_bps", initial_rate_bps, MIN_RATE_BPS, MAX_RATE_BPS)
        major = check_int("handle_major", handle_major, 1, 0xFFFE)
        if not (reply_timeout_s > 0 and ready_timeout_s > 0):
            raise ConfigError(
                f"timeouts must be positive (reply_timeout_s={reply_timeout_s!r},"
                f" ready_timeout_s={ready_timeout_s!r})"
            )
        argv = [
            str(traffic_manager_binary()),
            "--handle-major",
            str(major),
            "--initial-rate-bps",
            str(initial),
        ]
        if burst_bytes is not None:
            burst = check_int("burst_bytes", burst_bytes, 1, MAX_BURST_BYTES)
            argv += ["--burst-bytes", str(burst)]
        if cleanup_on_exit:
            argv.append("--cleanup")
        argv += args

        self._n = len(args)
        self._reply_timeout_s = float(reply_timeout_s)
        self._seq = 0
        self._buf = b""
        self._applied = np.full(self._n, initial, dtype=np.int64)
        self._closed = False
        self._stderr_tail = ""
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                close_fds=True,
                env=None if environ is None else dict(environ),
            )
        except OSError as exc:
            raise DependencyError(f"cannot start traffic manager {argv[0]}: {exc}") from exc
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in_fd = self._proc.stdin.fileno()
        self._out_fd = self._proc.stdout.fileno()
        os.set_blocking(self._in_fd, False)  # a stuck manager must not block a write
        self._poller = select.poll()
        self._poller.register(self._out_fd, select.POLLIN)

        try:
            line = self._read_line(time.monotonic() + ready_timeout_s)
        except EmulationError as exc:  # exited during start-up: exc has code and stderr
            raise EmulationError(f"traffic manager failed to start: {exc}") from None
        if line != f"ready {self._n}":
            reason = (
                f"no 'ready' within {ready_timeout_s} s" if line is None else f"got {line!r}"
            )
            self._abort()
            self._closed = True
            raise EmulationError(f"traffic manager failed to start ({reason}){self._exit_info()}")

    @property
    def pid(self) -> int:
        """Process id of the ``iroko-tm`` process."""
        return self._proc.pid

    @property
    def num_targets(self) -> int:
        """Number of host interfaces served (length of every rate vector)."""
        return self._n

    @property
    def applied_rates_bps(self) -> np.ndarray:
        """Rates (bit/s, int64) of the last acknowledged command, or the initial rate."""
        return self._applied.copy()

    def set_rates(self, rates_bps: Sequence[int] | np.ndarray) -> float:
        """Set every host's rate (bit/s, one per target) and return the apply latency in s.

        Float rates are rounded to whole bit/s.  Raises ActionError for a wrong count,
        non-finite or out-of-range rates (nothing is sent), and EmulationError if the
        manager rejects the command, does not answer in time or has died.
        """
        rates = self._validate(rates_bps)
        if self._closed:
            raise EmulationError("traffic manager is closed; create a new TrafficManager")
        self._check_alive()
        self._seq += 1
        seq = self._seq
        command = f"{seq} {' '.join(map(str, rates.tolist()))}\n".encode()
        start = time.perf_counter()
        try:
            written = os.write(self._in_fd, command)
        except (BrokenPipeError, BlockingIOError) as exc:
            raise self._died(f"cannot send command {seq}: {exc}", grace_s=1.0) from exc
        if written != len(command):
            raise self._died(f"command {seq} only partly sent ({written}/{len(command)} bytes)")

        deadline = time.monotonic() + self._reply_timeout_s
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise self._died(f"no reply to command {seq} within {self._reply_timeout_s} s")
            word, _, rest = line.partition(" ")
            reply_seq, _, message = rest.partition(" ")
            if reply_seq.isdigit() and int(reply_seq) < seq:
                continue  # late reply to a command that timed out earlier
            if word == "ok" and reply_seq == str(seq):
                latency = time.perf_counter() - start
                self._applied = rates
                return latency
            if word == "err" and reply_seq in (str(seq), "-"):
                raise EmulationError(
                    f"traffic manager rejected command {seq} (rates {rates.tolist()}): {message}"
                )
            raise self._died(f"unexpected reply {line!r} to command {seq}")

    def close(self) -> None:
        """Ask the manager to quit (kill it after 2 s); idempotent.

        Raises EmulationError if the manager reports a failure while quitting (with
        ``cleanup_on_exit``: a root qdisc could not be removed).
        """
        if self._closed:
            return
        self._closed = True
        was_alive = self._proc.poll() is None
        try:
            os.write(self._in_fd, b"q\n")
        except OSError:
            pass  # already gone: the exit status below tells
        self._abort(grace_s=2.0)
        if was_alive and self._proc.returncode not in (0, None):
            raise EmulationError(f"traffic manager failed while quitting{self._exit_info()}")

    def __enter__(self) -> TrafficManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _validate(self, rates_bps: Sequence[int] | np.ndarray) -> np.ndarray:
        """Return the rates as an int64 vector, or raise ActionError naming the bad value."""
        try:
            values = np.asarray(rates_bps, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ActionError(f"rates {rates_bps!r} are not numbers") from exc
        if values.shape != (self._n,):
            raise ActionError(f"expected {self._n} rates (one per host), got shape {values.shape}")
        in_range = (values >= MIN_RATE_BPS) & (values <= MAX_RATE_BPS)  # False for NaN
        bad = np.flatnonzero(~in_range)
        if bad.size:
            i = int(bad[0])
            raise ActionError(
                f"rate {i} = {float(values[i])!r} bit/s must be finite and in"
                f" {MIN_RATE_BPS}..{MAX_RATE_BPS}"
            )
        return np.rint(values).astype(np.int64)

    def _read_line(self, deadline: float) -> str | None:
        """Next stdout line, or None at the deadline; raises EmulationError at EOF."""
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not self._poller.poll(max(1, int(remaining * 1000))):
                continue
            chunk = os.read(self._out_fd, 65536)
            if not chunk:
                raise self._died("traffic manager closed its output", grace_s=1.0)
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace")

    def _check_alive(self) -> None:
        if self._proc.poll() is not None:
            raise self._died("traffic manager is not running")

    def _died(self, what: str, grace_s: float = 0.0) -> EmulationError:
        """Stop the process and build an error with its exit details.

        ``grace_s``: how long an exiting process (it closed a pipe) may take to exit by
        itself, so that its own exit code is reported rather than our SIGKILL.
        """
        self._abort(grace_s)
        self._closed = True
        return EmulationError(f"{what}{self._exit_info()}")

    def _abort(self, grace_s: float = 0.0) -> None:
        """Wait up to ``grace_s`` for the process to exit, kill it if needed, close pipes."""
        if grace_s > 0:
            try:
                self._proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass  # flushing a pipe to a dead reader may report EPIPE
        stderr = self._proc.stderr
        if stderr is not None and not stderr.closed:
            # The process is gone, so this read cannot block.
            self._stderr_tail = stderr.read().decode(errors="replace").strip()[-_STDERR_TAIL_CHARS:]
            stderr.close()

    def _exit_info(self) -> str:
        """'; exit code N; stderr: ...' for error messages, once the process is gone."""
        code = self._proc.returncode
        info = f"; exit code {code}" if code is not None else ""
        return info + (f"; stderr: {self._stderr_tail}" if self._stderr_tail else "")
