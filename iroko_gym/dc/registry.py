"""Per-env ownership records: every link and process an env creates, so exactly those are removed.

Each env gets a unique short prefix (``i`` + 4 hex digits, never ``if…``: see ``new_prefix``)
carried by every interface and bridge name it creates.  What it creates is written to ``/run/iroko_gym/<prefix>.json`` (tmpfs: gone at
reboot) together with the owner's pid and start time.  ``close()`` removes the objects and the
record; if the owner was killed (SIGKILL, OOM), the next env that starts finds the record of a
dead owner and removes exactly what it lists.  There is never a broad sweep by name pattern.

A process cannot be recorded before it exists, so every process an env starts also carries
``IROKO_ENV=<prefix>`` in its environment (``tagged_environ``): one killed between its start and
its record is still found (``tagged_processes``) and removed with the rest of its env.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from iroko_gym.atomic import atomic_write_text
from iroko_gym.errors import EmulationError

RUN_DIR = Path(os.environ.get("IROKO_RUN_DIR", "/run/iroko_gym"))
OWNER_VAR = "IROKO_ENV"
log = logging.getLogger(__name__)


def process_start_time(pid: int) -> int | None:
    """Kernel start time (clock ticks since boot) of ``pid``, or None if it does not exist.

    Together with the pid it identifies a process across pid reuse.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _alive(pid: int, start: int) -> bool:
    return process_start_time(pid) == start


def _kill(pid: int, start: int) -> None:
    if _alive(pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def tagged_environ(prefix: str) -> dict[str, str]:
    """This process's environment plus the env's tag, for every process the env starts."""
    return {**os.environ, OWNER_VAR: prefix}


def tagged_processes(prefix: str) -> list[tuple[int, int]]:
    """(pid, start time) of every process whose environment carries the tag of ``prefix``."""
    tag = f"\0{OWNER_VAR}={prefix}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # exited meanwhile, or a kernel thread
            continue
        if tag in b"\0" + environ:
            start = process_start_time(int(entry.name))
            if start is not None:
                found.append((int(entry.name), start))
    return found


def _wait_gone(procs: list[tuple[int, int]], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p, s) for p, s in procs) and time.monotonic() < deadline:
        time.sleep(0.01)


ENODEV = 19


def delete_links(names: list[str]) -> list[str]:
    """Delete root-namespace links by name; returns the names that could not be deleted.

    Each delete is one netlink request that names the link, so the kernel resolves the name and
    answers ENODEV for one that is gone.  Never ``ip link del NAME``: for a name that does not
    exist, iproute2 reads ``if<digits>…`` as an interface *index* and deletes that link instead.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    failed = []
    with IPRoute() as ipr:
        for name in names:
            try:
                ipr.link("del", ifname=name)
            except NetlinkError as exc:
                if exc.code != ENODEV:  # gone already, e.g. with its veth peer
                    failed.append(f"{name} ({exc})")
    return failed


def new_prefix() -> str:
    """A random env prefix: ``i`` + 4 hex digits whose first is never ``f``.

    No name an env creates may begin with ``if``: tools that take a link name (iproute2's
    ``ll_name_to_index``) read ``if<digits>`` as an interface index when no link has that name,
    which once turned ``ip link del if2f0s1-eth1`` into the deletion of the host's ifindex 2.
    """
    first = "0123456789abcde"[secrets.randbelow(15)]
    return "i" + first + secrets.token_hex(2)[1:]


@dataclass
class Ownership:
    """The record of one env: its prefix and everything it created in the root namespace."""

    prefix: str
    owner_pid: int
    owner_start: int
    links: list[str] = field(default_factory=list)
    processes: list[tuple[int, int]] = field(default_factory=list)  # (pid, start time)

    @property
    def path(self) -> Path:
        return RUN_DIR / f"{self.prefix}.json"

    # -- recording --------------------------------------------------------------------------
    def add_links(self, names: list[str]) -> None:
        self.links.extend(n for n in names if n not in self.links)
        self._write()

    def add_process(self, pid: int) -> None:
        start = process_start_time(pid)
        if start is not None:
            self.processes.append((pid, start))
            self._write()

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps(self.__dict__))

    # -- removal ------------------------------------------------------------------------------
    def remove_all(self) -> None:
        """Kill recorded processes, delete recorded links, drop the record. Safe to repeat."""
        procs = list(dict.fromkeys([*self.processes, *tagged_processes(self.prefix)]))
        for pid, start in procs:
            _kill(pid, start)
        _wait_gone(procs)
        failed = delete_links(self.links)
        if failed:
            raise EmulationError(f"env {self.prefix}: could not delete links {failed}; record kept at {self.path}")
        self.processes.clear()
        self.links.clear()
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> Ownership:
        data = json.loads(path.read_text())
        data["processes"] = [tuple(p) for p in data["processes"]]
        return cls(**data)


def claim_prefix() -> Ownership:
    """Allocate a fresh prefix not used by any live record or existing link, and record it."""
    from pyroute2 import IPRoute

    me = os.getpid()
    with IPRoute() as ipr:
        existing = {link.get("ifname") for link in ipr.get_links()}
    for _ in range(100):
        prefix = new_prefix()
        if (RUN_DIR / f"{prefix}.json").exists() or any(n.startswith(prefix) for n in existing):
            continue
        own = Ownership(prefix, me, process_start_time(me) or 0)
        own._write()
        return own
    raise EmulationError(f"could not find a free env prefix in {RUN_DIR}: too many live envs?")


def _reap_temp_records() -> None:
    """Remove half-written records (``.<prefix>.json.<pid>.<uuid>.tmp``) whose writer is dead."""
    for tmp in RUN_DIR.glob(".i*.json.*.tmp"):
        parts = tmp.name.split(".")
        if len(parts) >= 4 and parts[-3].isdigit() and process_start_time(int(parts[-3])) is None:
            tmp.unlink(missing_ok=True)
            log.info("removed half-written record %s of a dead process", tmp)


def reap_stale() -> list[str]:
    """Remove what envs whose owner process died left behind; returns their prefixes."""
    reaped: list[str] = []
    if not RUN_DIR.is_dir():
        return reaped
    _reap_temp_records()
    for path in sorted(RUN_DIR.glob("i*.json")):
        try:
            own = Ownership.load(path)
        except (ValueError, TypeError, KeyError, FileNotFoundError):
            continue  # being written by a live env right now, or not ours
        if _alive(own.owner_pid, own.owner_start):
            continue
        own.remove_all()
        log.info("reaped env %s of dead owner pid %d", own.prefix, own.owner_pid)
        reaped.append(own.prefix)
    return reaped
