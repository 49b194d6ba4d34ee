"""TrafficRunner's episode bookkeeping with a fake launcher (no namespaces, no root)."""

from __future__ import annotations

import subprocess

import pytest

from iroko_gym.dc.traffic.patterns import generate_pattern
from iroko_gym.dc.traffic.runner import TrafficRunner
from iroko_gym.errors import EmulationError
from iroko_gym.topologies import make_topology

HEADER = "flow_id,src,dst,proto,bytes_requested,bytes_sent,start_ns,end_ns,status\n"


class SleepLauncher:
    """Starts ``sleep`` (or a given command) instead of goben, in the caller's namespace."""

    def __init__(self, argv: list[str] | None = None) -> None:
        self.argv = argv or ["sleep", "30"]

    def popen(self, host, argv, **kwargs):
        return subprocess.Popen(self.argv, **kwargs)


@pytest.fixture
def runner(tmp_path):
    topo = make_topology("dumbbell")
    r = TrafficRunner(topo, SleepLauncher(), tmp_path, port=5201, transport="tcp", congestion_control="cubic",
                      duration_s=None)
    yield r, topo
    r.close()


def test_client_stopped_before_writing_its_header_contributes_no_records(runner):
    r, topo = runner
    ep_dir = r.start_episode(generate_pattern("incast", topo.hosts, seed=0))
    (ep_dir / "flows-h1.csv").write_text("")  # stopped between creating the file and its header
    (ep_dir / "flows-h2.csv").write_text(HEADER + "h2-1,h2,10.0.0.3,tcp,1000,1000,1,2,done\n")
    records = r.stop_episode()
    assert [rec.flow_id for rec in records] == ["h2-1"]


def test_a_client_that_exits_with_an_error_is_reported_with_its_host(tmp_path):
    topo = make_topology("dumbbell")
    r = TrafficRunner(topo, SleepLauncher(["sh", "-c", "echo schedule is broken; exit 3"]), tmp_path, port=5201,
                      transport="tcp", congestion_control="cubic", duration_s=None)
    try:
        r.start_episode(generate_pattern("incast", topo.hosts, seed=0))
        for proc in r._clients.values():
            proc.wait()
        with pytest.raises(EmulationError, match=r"traffic client on host h\d exited with code 3: schedule is broken"):
            r.poll()
    finally:
        r.close()
