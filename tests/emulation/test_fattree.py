"""Fat-tree k=4 on namespaced L3 routers: reachability, ECMP spread, env stepping (root + Mininet)."""

from __future__ import annotations

import json
import time

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.dc.backends import backend_for
from iroko_gym.dc.nlstats import NetlinkStats
from iroko_gym.dc.traffic.patterns import Flow, TrafficPattern, generate_pattern
from iroko_gym.dc.traffic.runner import TrafficRunner
from iroko_gym.topologies import make_topology

pytestmark = pytest.mark.emulation


@pytest.fixture(scope="module")
def fattree_net():
    """One k=4 network shared by the module (built before, so not blamed by, the per-test leftover check)."""
    topology = make_topology("fattree", k=4)
    backend = backend_for(topology)
    backend.start()
    yield topology, backend
    backend.close()


def _run(topology, backend, pattern, out_dir, timeout_s=30.0):
    runner = TrafficRunner(topology, backend, out_dir, port=5201, transport="tcp", congestion_control="cubic",
                           duration_s=None)
    try:
        runner.start_servers()
        runner.start_episode(pattern)
        deadline = time.monotonic() + timeout_s
        while runner.poll() and time.monotonic() < deadline:
            time.sleep(0.1)
        return runner.stop_episode()
    finally:
        runner.close()


def test_every_pair_of_hosts_is_reachable(fattree_net, tmp_path):
    topology, backend = fattree_net
    pattern = generate_pattern("all_to_all", topology.hosts, seed=0, size_bytes=2000)
    records = _run(topology, backend, pattern, tmp_path)
    assert len(records) == 16 * 15
    failed = sorted((r.src, r.dst, r.status) for r in records if not r.done)
    assert failed == []


def _core_bytes_towards(backend, topology, pod: int) -> dict[str, int]:
    """tx bytes of every core's port that faces ``pod`` (core ``eth<pod+1>``)."""
    out = {}
    for port, path in zip(topology.ports, backend.port_netns_paths):
        if port.switch.startswith("c") and port.intf_index == pod + 1:
            stats = NetlinkStats(path)
            try:
                (idx,) = stats.ifindices([backend.port_ifname(port)])
                out[port.switch] = next(tx for i, tx, _ in stats.link_bytes() if i == idx)
            finally:
                stats.close()
    return out


def test_flows_between_two_pods_spread_over_every_core(fattree_net, tmp_path):
    topology, backend = fattree_net
    src, dst = topology.hosts[0], topology.hosts[-1]
    assert (src.pod, dst.pod) == (0, 3)
    before = _core_bytes_towards(backend, topology, dst.pod)
    flows = tuple(Flow(src.name, dst.name, 0.0, 20_000) for _ in range(64))  # 64 source ports, one 5-tuple each
    records = _run(topology, backend, TrafficPattern("spread", flows), tmp_path)
    assert sum(r.done for r in records) == 64
    after = _core_bytes_towards(backend, topology, dst.pod)
    carried = {core: after[core] - before[core] for core in before}
    assert sorted(carried) == ["c1", "c2", "c3", "c4"]
    assert sum(carried.values()) >= 64 * 20_000
    assert min(carried.values()) >= 20_000, carried  # every core carried at least one whole flow


def test_env_steps_on_a_fattree_and_a_stride_run_completes(tmp_path):
    env = gym.make("dc-iroko-v0", topology="fattree", topology_params={"k": 4}, pattern="stride",
                   pattern_params={"stride": 4, "size_bytes": 500_000}, max_steps=200, output_dir=str(tmp_path))
    try:
        obs, info = env.reset(seed=0)
        layout = env.unwrapped.layout
        assert obs.shape == env.observation_space.shape == (80 * 6 + 16,)
        assert len(layout["observation"]) == obs.size and layout["action"][:2] == ["h1", "h2"]
        assert layout["observation"][0] == "port c1-eth1 backlog"
        rx, terminated, steps = [], False, 0
        while not terminated:
            obs, _, terminated, truncated, info = env.step(np.ones(16, dtype=np.float32))
            assert env.observation_space.contains(obs) and not truncated
            rx.append(info["host_rx_bps"])
            steps += 1
        assert steps < 200
        assert np.max(np.mean(rx[2:6], axis=0)) > 2e6  # receivers get real throughput across pods
        flows = info["flows"]
        assert flows["flows"] == flows["completed"] == 16
        assert flows["fct_p50_s"] > 500_000 * 8 / 10e6  # no faster than the link rate allows
        assert flows["slowdown_p50"] >= 1.0 and len(info["flow_records"]) == 16
        # The episode's result file carries per-flow slowdown against the ideal FCT.
        result = json.loads((tmp_path / "episode-0001" / "flows.json").read_text())
        assert result["summary"]["completed"] == 16 and result["summary"]["slowdown_p50"] >= 1.0
        assert all(row["slowdown"] >= 1.0 for row in result["flows"])
    finally:
        env.close()


def test_socket_stats_see_every_sending_connection_across_pods(tmp_path):
    """Long-lived flows never finish, so every sender's socket is certain to exist once it has
    connected; the test steps until all 16 have delivered data (bounded) instead of racing them."""
    env = gym.make("dc-iroko-v0", topology="fattree", topology_params={"k": 4}, pattern="stride",
                   pattern_params={"stride": 4}, max_steps=100, output_dir=str(tmp_path), socket_stats=True)
    try:
        env.reset(seed=0)
        for _ in range(100):
            _, _, terminated, truncated, info = env.step(np.ones(16, dtype=np.float32))
            assert not terminated
            sockets = info["sockets"]
            if len(sockets) == 16 and all(s["bytes_acked"] > 0 for s in sockets) or truncated:
                break
        # Kernel view of the 16 sending connections, read through sock_diag in the host namespaces.
        assert sorted(s["host"] for s in sockets) == sorted(f"h{i}" for i in range(1, 17))
        assert all(s["rtt_ms"] > 0 and s["cwnd_packets"] >= 1 and s["bytes_acked"] > 0 for s in sockets)
    finally:
        env.close()


def test_kill_9_of_a_routed_env_is_reaped_by_the_next_start(tmp_path):
    import json
    import signal
    import subprocess
    import sys

    from iroko_gym.dc.registry import RUN_DIR, process_start_time, reap_stale

    script = ("from iroko_gym.dc.backends import backend_for\nfrom iroko_gym.topologies import make_topology\n"
              "b = backend_for(make_topology('fattree', k=2)); b.start(); print(b.prefix, flush=True)\n"
              "import time; time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    prefix = proc.stdout.readline().strip()
    assert prefix, "child did not build its network"
    record = json.loads((RUN_DIR / f"{prefix}.json").read_text())
    assert record["links"] == []  # a routed env creates nothing in the root namespace
    pids = [(pid, start) for pid, start in record["processes"]]
    assert len(pids) == 2 + 5  # node shells: 2 hosts, 2 edge + 2 agg + 1 core
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert all(process_start_time(pid) == start for pid, start in pids)  # the shells outlive their owner
    assert prefix in reap_stale()
    assert not (RUN_DIR / f"{prefix}.json").exists()
    assert [pid for pid, start in pids if process_start_time(pid) == start] == []
