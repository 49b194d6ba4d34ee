"""Run a traffic pattern on a live network: goben servers on every host, clients per source.

Servers start once with the network and live until ``close()``; each episode writes one
schedule per sending host and starts one client per sender.  Flow ids are ``<src>-<i>`` where
``i`` is the flow's index in the episode's ``TrafficPattern.flows`` (a stable contract: result
readers map records back to pattern flows with it).  Flow records and generator logs
go to ``<output_dir>/episode-NNNN/``.  A generator that dies with an error is reported by
``poll()`` as an EmulationError naming the host, exit code and the tail of its log.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Protocol, Sequence

from iroko_gym.dc.traffic.goben import FlowRecord, client_argv, read_flow_records, server_argv, write_schedule
from iroko_gym.dc.traffic.pattern import TrafficPattern
from iroko_gym.errors import EmulationError
from iroko_gym.topologies.base import Topology

_STOP_GRACE_S = 2.0


class HostLauncher(Protocol):
    def popen(self, host: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen: ...


def _log_tail(path: Path, chars: int = 600) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except FileNotFoundError:
        return ""


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TrafficRunner:
    """Owns the traffic-generator processes of one env."""

    def __init__(self, topology: Topology, launcher: HostLauncher, output_dir: Path, *, port: int,
                 transport: str, congestion_control: str, duration_s: float | None) -> None:
        self.topology = topology
        self.launcher = launcher
        self.output_dir = output_dir
        self.port = port
        self.transport = transport
        self.congestion_control = congestion_control
        self.duration_s = duration_s
        self._servers: dict[str, subprocess.Popen] = {}
        self._clients: dict[str, subprocess.Popen] = {}
        self._episode_dir: Path | None = None
        self._episode = 0

    def _spawn(self, host: str, argv: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as fh:
            return self.launcher.popen(host, argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_servers(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for h in self.topology.hosts:
            argv = server_argv(self.port)
            self._servers[h.name] = self._spawn(h.name, argv, self.output_dir / f"server-{h.name}.log")

    def start_episode(self, pattern: TrafficPattern) -> Path:
        """Start one client per sending host; returns the episode's output directory."""
        self.stop_episode()
        self._episode += 1
        ep_dir = self.output_dir / f"episode-{self._episode:04d}"
        ep_dir.mkdir(parents=True, exist_ok=True)
        rows: dict[str, list[tuple]] = defaultdict(list)
        for i, flow in enumerate(pattern.flows):
            dst_ip = self.topology.host(flow.dst).ip
            rows[flow.src].append((f"{flow.src}-{i}", flow.start_s * 1000.0, dst_ip, self.port, flow.size_bytes, self.transport))
        for src, flows in rows.items():
            schedule = ep_dir / f"schedule-{src}.csv"
            write_schedule(schedule, flows)
            argv = client_argv(schedule, ep_dir / f"flows-{src}.csv", src_name=src, duration_s=self.duration_s,
                               congestion_control=self.congestion_control if self.transport == "tcp" else None)
            self._clients[src] = self._spawn(src, argv, ep_dir / f"client-{src}.log")
        self._episode_dir = ep_dir
        return ep_dir

    def poll(self) -> bool:
        """True while any client still runs; raises EmulationError if a generator crashed."""
        for host, proc in self._servers.items():
            if proc.poll() is not None:
                raise EmulationError(
                    f"traffic server on host {host} exited with code {proc.returncode}: "
                    f"{_log_tail(self.output_dir / f'server-{host}.log')}"
                )
        running = False
        for host, proc in self._clients.items():
            code = proc.poll()
            if code is None:
                running = True
            elif code != 0:
                log = self._episode_dir / f"client-{host}.log" if self._episode_dir else Path("-")
                raise EmulationError(f"traffic client on host {host} exited with code {code}: {_log_tail(log)}")
        return running

    def stop_episode(self) -> list[FlowRecord]:
        """Stop this episode's clients (SIGTERM, then SIGKILL) and return its flow records."""
        _stop(list(self._clients.values()))
        self._clients.clear()
        if self._episode_dir is None:
            return []
        records: list[FlowRecord] = []
        for path in sorted(self._episode_dir.glob("flows-*.csv")):
            if path.stat().st_size == 0:
                continue  # a client stopped before it wrote its header: no flow to record
            records.extend(read_flow_records(path))
        self._episode_dir = None
        return records

    def close(self) -> None:
        self.stop_episode()
        _stop(list(self._servers.values()))
        self._servers.clear()
