"""RLlib PPO on the emulated dumbbell: 2 env runners (on one Ray node, then on two nodes of a
``ray.cluster_utils.Cluster``), 1 tiny iteration, nothing left behind afterwards.

The envs live in Ray worker processes, which the in-process leftover check of conftest.py cannot
see; this test watches /run/iroko_gym while the run lasts, keeps the records whose owner is a
descendant of the run (so envs of other users of the machine are ignored), and afterwards asserts
that none of those records, links or processes remain, and no new network namespace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.rllib", reason="Ray RLlib is the optional extra: ./install.sh --ray (pip install '.[ray]')")
import pandas as pd

from iroko_gym.dc.registry import RUN_DIR, process_start_time
from tests import machine

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.emulation, pytest.mark.slow]

TINY = """
env_config: {step_interval_ms: 50, max_steps: 20}
env_runners: {rollout_fragment_length: 16}
training: {train_batch_size_per_learner: 32, minibatch_size: 16, num_epochs: 1}
"""




def _ancestry(pid: int) -> list[int]:
    """``pid`` and its ancestors up to (not including) init, as far as /proc still shows them."""
    chain = []
    while pid > 1:
        chain.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return chain



class RecordWatcher(threading.Thread):
    """Collects the ownership records (prefix -> processes) created by descendants of ``root_pid``."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.records: dict[str, set[tuple[int, int]]] = {}
        self.owner_ancestry: dict[str, list[int]] = {}  # taken while the owner lives
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            for path in RUN_DIR.glob("i*.json") if RUN_DIR.is_dir() else []:
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                prefix = data["prefix"]
                chain = self.owner_ancestry.get(prefix) or _ancestry(data["owner_pid"])
                if self.root_pid in chain:
                    self.records.setdefault(prefix, set()).update(tuple(p) for p in data["processes"])
                    self.owner_ancestry[prefix] = chain


def _leftovers(records: dict[str, set[tuple[int, int]]], netns_before: set[str], marker: str) -> dict[str, list]:
    links = machine.links()
    pids = [pid for procs in records.values() for pid, start in procs if process_start_time(pid) == start]
    by_cmdline = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
                by_cmdline.append(int(proc.name))
        except OSError:
            continue
    return {
        "records": [p for p in records if (RUN_DIR / f"{p}.json").exists()],
        "links": sorted(n for n in links if any(n.startswith(p) for p in records)),
        "processes": sorted(set(pids) | set(by_cmdline)),
        "netns": sorted(machine.netns() - netns_before),
    }


def _start_run(tmp_path: Path, iterations: int) -> subprocess.Popen[str]:
    hyper = tmp_path / "tiny.yaml"
    hyper.write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    argv = [sys.executable, str(ROOT / "examples" / "run_ray.py"), "--algo", "PPO", "--env", "dc-iroko-v0",
            "--topo", "dumbbell", "--num-env-runners", "2", "--iterations", str(iterations), "--config", str(hyper),
            "--results-dir", str(tmp_path), "--run", "dc"]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], watcher: RecordWatcher, timeout: float = 150) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # run_ray stops the algorithm (envs closed) on the way out
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"run_ray.py did not finish in {timeout} s; stderr: {err[-3000:]}")
    finally:
        watcher.stop.set()
        watcher.join()
    assert proc.returncode == 0, err[-3000:]
    return err


def _assert_nothing_left(records: dict[str, set[tuple[int, int]]], netns_before: set[str], marker: str) -> None:
    deadline = time.monotonic() + 30  # Ray's worker processes may still be exiting
    left = _leftovers(records, netns_before, marker)
    while any(left.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _leftovers(records, netns_before, marker)
    assert not any(left.values()), f"left behind after Ray shut down: {left}"


def test_ppo_two_env_runners_on_the_dumbbell_leaves_nothing_behind(tmp_path: Path) -> None:
    netns_before = machine.netns()
    proc = _start_run(tmp_path, iterations=1)
    watcher = RecordWatcher(proc.pid)
    watcher.start()
    _finish(proc, watcher)

    assert len(watcher.records) == 2, f"expected one env per runner, saw prefixes {sorted(watcher.records)}"
    curve = pd.read_parquet(tmp_path / "dc" / "learning_curve.parquet")
    assert len(curve) == 1 and curve["step"].iloc[0] >= 32
    env_dirs = sorted(p.name for p in (tmp_path / "dc" / "envs").iterdir())
    assert env_dirs == ["w1-v0", "w2-v0"]  # distinct output dirs, one per env runner
    assert all(any((tmp_path / "dc" / "envs" / d).glob("episode-*")) for d in env_dirs)
    _assert_nothing_left(watcher.records, netns_before, str(tmp_path))


def test_sigkilled_env_runner_is_replaced_and_its_network_reaped(tmp_path: Path) -> None:
    """SIGKILL one env runner mid-training: RLlib restarts it, and what it left is removed."""
    netns_before = machine.netns()
    proc = _start_run(tmp_path, iterations=6)
    watcher = RecordWatcher(proc.pid)
    watcher.start()
    deadline = time.monotonic() + 90
    while len(watcher.records) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert len(watcher.records) >= 2, "the env runners' networks did not come up"
    victim = min(watcher.records)
    owner = json.loads((RUN_DIR / f"{victim}.json").read_text())["owner_pid"]
    os.kill(owner, signal.SIGKILL)
    _finish(proc, watcher, timeout=180)

    assert len(watcher.records) >= 3, f"no replacement env after the kill: {sorted(watcher.records)}"
    assert len(pd.read_parquet(tmp_path / "dc" / "learning_curve.parquet")) == 6
    _assert_nothing_left(watcher.records, netns_before, str(tmp_path))


def _raylet_pids(node: object) -> list[int]:
    return [info.process.pid for info in node.all_processes.get("raylet", [])]  # type: ignore[attr-defined]


def test_two_ray_nodes_each_run_an_env_runner_with_its_own_network(tmp_path: Path) -> None:
    """The multi-node path on one machine: a ``ray.cluster_utils.Cluster`` of two nodes with one CPU
    each, so RLlib's two 1-CPU env runners land one per node; each builds its own network under its
    own prefix and output_dir, and after the cluster shuts down nothing is left behind."""
    from ray.cluster_utils import Cluster

    netns_before = machine.netns()
    # Ray's head node installs its own SIGTERM/SIGINT handlers in this (pytest's) process; every
    # process forked later (pyroute2's netns helpers, which are ended with SIGTERM) would run
    # Ray's node shutdown and sys.exit() instead of dying. Restore ours when the cluster is gone.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                             "object_store_memory": 128 * 1024**2})
    watcher = RecordWatcher(os.getpid())  # env runners are children of the nodes' raylets, started here
    watcher.start()
    try:
        worker = cluster.add_node(num_cpus=1, object_store_memory=128 * 1024**2)
        cluster.wait_for_nodes()
        raylets = {"head": _raylet_pids(cluster.head_node), "worker": _raylet_pids(worker)}
        hyper = tmp_path / "tiny.yaml"
        hyper.write_text(TINY)
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        argv = [sys.executable, str(ROOT / "examples" / "run_ray.py"), "--algo", "PPO", "--env", "dc-iroko-v0",
                "--topo", "dumbbell", "--num-env-runners", "2", "--iterations", "1", "--config", str(hyper),
                "--results-dir", str(tmp_path), "--run", "dc", "--address", cluster.address]
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        nodes = {name for chain in watcher.owner_ancestry.values() for name, pids in raylets.items()
                 if set(pids) & set(chain)}
        assert len(watcher.records) == 2 and nodes == {"head", "worker"}, (watcher.owner_ancestry, raylets)
        env_dirs = sorted(p.name for p in (tmp_path / "dc" / "envs").iterdir())
        assert len(env_dirs) == 2 and all(any((tmp_path / "dc" / "envs" / d).glob("episode-*")) for d in env_dirs)
    finally:
        cluster.shutdown()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        watcher.stop.set()
        watcher.join()
    _assert_nothing_left(watcher.records, netns_before, str(tmp_path))
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
