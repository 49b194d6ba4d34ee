"""The disk under the learners: a full disk in a checkpoint save, temp files of an interrupted
save, and counters that add up after a crash and a restore."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from iroko_gym.remote import checkpoints
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.stubs import pb2

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PPO_PARAMS = {"hidden_sizes": [8], "rollout_steps": 3, "minibatch_size": 3, "epochs": 1}


class FullDisk:
    """A real file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, path: Path, mode: str, room: int) -> None:
        self._file = open(path, mode)  # noqa: SIM115 - closed by close()/__exit__
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str):
        return getattr(self._file, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def open_descriptors_under(directory: Path) -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return [t for t in targets if str(directory) in t]


def report(stub, learner, wire) -> None:
    good = wire.trajectory(version=learner.version)
    stub.Report(pb2.ReportRequest(client_id="raw", trajectories=[good]), timeout=5)


def test_a_full_disk_is_logged_counted_and_retried_while_training_goes_on(
        make_server, tmp_path, stub_for, wire, monkeypatch, caplog):
    ckpt = tmp_path / "full"
    server = make_server(checkpoint_dir=ckpt, checkpoint_every=1)
    stub = stub_for(server)
    stub.Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    learner = server.learner("raw")
    monkeypatch.setattr(checkpoints, "open", lambda path, mode: FullDisk(path, mode, 1000),
                        raising=False)
    with caplog.at_level("ERROR", logger="iroko_gym.remote.learner"):
        for _ in range(2):
            report(stub, learner, wire)
            assert server.wait_idle(30)
    metrics = server.metrics().learners[0]
    assert metrics.checkpoint_failures == 2 and metrics.version == 3  # training went on
    assert "No space left on device" in metrics.last_error
    assert sum("cannot write checkpoint" in r.getMessage() for r in caplog.records) == 2
    assert list(ckpt.iterdir()) == []  # no temp file left
    assert open_descriptors_under(ckpt) == []  # and no descriptor, deleted or not
    assert stub.GetModel(pb2.ModelRequest(client_id="raw"), timeout=5).version == 3

    monkeypatch.undo()  # the disk has room again: the next version's save succeeds
    report(stub, learner, wire)
    assert server.wait_idle(30)
    (saved,) = ckpt.iterdir()
    assert checkpoints.load_checkpoint(saved)["version"] == 4
    assert server.metrics().learners[0].checkpoint_failures == 2


def test_a_failed_final_checkpoint_still_shuts_down(make_server, tmp_path, stub_for, wire,
                                                     monkeypatch):
    ckpt = tmp_path / "full"
    server = make_server(checkpoint_dir=ckpt)
    stub_for(server).Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    monkeypatch.setattr(checkpoints, "open", lambda path, mode: FullDisk(path, mode, 0),
                        raising=False)
    server.close()
    assert server.metrics().learners[0].checkpoint_failures == 1
    assert list(ckpt.iterdir()) == [] and open_descriptors_under(ckpt) == []


def test_temp_files_of_an_interrupted_checkpoint_are_removed_at_the_next_start(make_server,
                                                                             tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # a process that has exited: its save was interrupted
    stale = ckpt / f".c1-0123456789.pt.{pid}.{'ab' * 16}.tmp"
    stale.write_bytes(b"half a checkpoint")
    mine = ckpt / f".c2-0123456789.pt.{os.getpid()}.{'cd' * 16}.tmp"  # a live save: kept
    mine.write_bytes(b"in progress")
    other = ckpt / "notes.txt"
    other.write_text("not ours")
    make_server(checkpoint_dir=ckpt)
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([mine.name, other.name])


def adds_up(m: pb2.LearnerMetrics) -> bool:
    return m.trajectories_received == (m.trajectories_trained + m.stale_dropped + m.failed
                                       + m.queued_trajectories + m.lost_at_crash)


def test_counters_add_up_after_a_checkpoint_taken_with_a_full_queue(make_server, tmp_path,
                                                                     stub_for, wire):
    """The disk as a crash leaves it: the last checkpoint was written while trajectories were
    queued. The restored learner counts those as lost_at_crash."""
    first = make_server(checkpoint_dir=tmp_path / "live")
    stub = stub_for(first)
    stub.Init(wire.init_request(params=PPO_PARAMS), timeout=5)
    learner = first.learner("raw")
    entered, release = threading.Event(), threading.Event()
    real = learner.algorithm.ingest

    def slow(traj):
        entered.set()
        release.wait(30)
        real(traj)

    learner.algorithm.ingest = slow
    stub.Report(pb2.ReportRequest(client_id="raw",
                                  trajectories=[wire.trajectory() for _ in range(5)]), timeout=5)
    assert entered.wait(30)
    live = first.metrics().learners[0]
    assert live.queued_trajectories == 5 and adds_up(live)
    saved = learner.save()  # what a periodic checkpoint at this moment writes
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copy(saved, crashed / saved.name)  # the disk at the moment of a kill -9
    release.set()
    first.close()

    second = make_server(checkpoint_dir=crashed)
    after = second.metrics().learners[0]
    assert after.trajectories_received == 5 and after.lost_at_crash == 5 and adds_up(after)
    stub_for(second).Report(pb2.ReportRequest(client_id="raw", trajectories=[
        wire.trajectory(version=after.version)]), timeout=5)
    assert second.wait_idle(30)
    final = second.metrics().learners[0]
    assert final.trajectories_received == 6 and final.trajectories_trained == 1
    assert adds_up(final)


def test_counters_add_up_after_kill_9_and_a_restore(tmp_path, make_config, make_server):
    """kill -9 a CLI server while it trains; whatever the moment, the restored counters add
    up, and they never claim more than the client had acknowledged."""
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-m", "iroko_gym.remote.server", "--host",
                             "127.0.0.1", "--port", "0", "--checkpoint-dir", str(ckpt),
                             "--checkpoint-every", "1", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    params = {"rollout_steps": 16, "minibatch_size": 16, "epochs": 10, "hidden_sizes": [16]}
    try:
        address = re.search(r"listening on (127\.0\.0\.1:\d+)",
                            proc.stdout.readline()).group(1)
        with RemoteAgent(make_config(address, params=params, batch_size=16)) as agent:
            rng = np.random.default_rng(0)
            for _ in range(60):  # one rollout each
                traj = None
                for t in range(16):
                    traj, action = agent.request_for_action(traj, rng.standard_normal(4))
                    action.update_reward(1.0)
                    if t < 15:
                        agent.add_to_trajectory(traj, action)
                agent.mark_end_of_trajectory(traj, action)
            assert agent.flush(30)
            deadline = time.monotonic() + 30
            while not list(ckpt.glob("*.pt")) and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)  # no drain, no final checkpoint
            proc.wait(30)
            sent = agent.stats().trajectories_sent
            agent.close(timeout=0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert sent == 60
    server = make_server(checkpoint_dir=ckpt)
    after = server.metrics().learners[0]
    assert 1 <= after.trajectories_received <= sent and adds_up(after)
