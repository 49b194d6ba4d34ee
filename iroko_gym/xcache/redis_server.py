"""A private ``redis-server`` (Debian's binary) for the sidecar: own directory, config and port.

Never the system service: the server gets a config file written into its own directory, binds
127.0.0.1 on a free port, keeps its data (RDB/AOF) there, and is stopped by ``close()``.  With
``persistent=True`` every write is appended to the AOF and fsynced before Redis answers
(``appendfsync always``, the default), so a killed server loses no acknowledged write;
``fsync="everysec"`` is faster and can lose the last second of writes if Redis is killed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from iroko_gym.errors import DependencyError, IrokoError
from iroko_gym.validate import check_choice

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


class RedisError(IrokoError, RuntimeError):
    """The private Redis server did not start or stopped unexpectedly."""


def _own_session_dying_with_parent() -> None:
    """In a child before exec: its own session (a terminal's Ctrl-C reaches only the parent, which
    stops the children in order), and SIGTERM when the parent dies (no orphan outlives it)."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child process of the deployment (see :func:`_own_session_dying_with_parent`)."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_own_session_dying_with_parent, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise DependencyError("redis-server is not installed; run ./install.sh "
                              "(or: apt-get install redis-server)")
    return path


class RedisServer:
    """``with RedisServer(directory, persistent=True) as r: r.port``; ``start()`` after a stop or
    ``kill()`` comes back on the same port with the same data."""

    def __init__(self, directory: str | Path, *, persistent: bool = False, fsync: str = "always",
                 port: int | None = None) -> None:
        self.directory = Path(directory)
        self.persistent = persistent
        self.fsync = check_choice("fsync", fsync, ("always", "everysec", "no"))
        self.port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def config_text(self) -> str:
        lines = [
            "bind 127.0.0.1", f"port {self.port}", "protected-mode yes", "daemonize no",
            f"dir {self.directory}", "logfile redis.log", "databases 1", 'save ""',
            f"appendonly {'yes' if self.persistent else 'no'}", f"appendfsync {self.fsync}",
            "appenddirname aof",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> RedisServer:
        """Start (on the same port as before after a stop); returns self once it answers PING."""
        if self._proc is not None:
            return self
        binary = redis_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            port_was_given = self.port != 0
            if not port_was_given:
                self.port = free_port()
            conf = self.directory / "redis.conf"
            conf.write_text(self.config_text())
            self._proc = spawn([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                log.info("redis-server pid %d on 127.0.0.1:%d (%s)", self._proc.pid, self.port, self.directory)
                return self
            why = self._reap()
            if port_was_given or attempt == 4:
                raise RedisError(f"redis-server did not start on 127.0.0.1:{self.port}: {why}")
            self.port = 0  # someone took the free port meanwhile: draw another
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _reap(self) -> str:
        """Stop a process that failed to start; returns the tail of its log."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.kill()
        _, err = self._proc.communicate()
        self._proc = None
        logfile = self.directory / "redis.log"
        text = logfile.read_text(errors="replace") if logfile.exists() else err.decode(errors="replace")
        return text.strip().splitlines()[-1] if text.strip() else "no output"

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing flushed beyond what fsync already wrote)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait (Redis finishes writing its AOF); SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            if proc is not None:
                proc.communicate()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("redis-server pid %d ignored SIGTERM for %.0f s; killing it", proc.pid, timeout)
            proc.kill()
            proc.communicate()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
