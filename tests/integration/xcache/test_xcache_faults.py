"""Faults: a malformed packet, a crashed sidecar, a crashed Redis, a restarted actor.

With the load generator in lock step (window 1, resending what is not acknowledged) none of them
loses an access record or a stored answer, and the hit rate stays the offline one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iroko_gym.cache.baselines import load_agent
from iroko_gym.cache.trace import default_trace_path
from iroko_gym.xcache.actors import PolicyActor
from iroko_gym.xcache.deploy import SidecarProcess
from iroko_gym.xcache.loadgen import LoadResult
from iroko_gym.xcache.records import HEADER, encode_packet, AccessRecord
from iroko_gym.xcache.store import AnswerStore

pytestmark = [pytest.mark.integration, pytest.mark.faults]


class Replay(threading.Thread):
    """``loadgen.replay`` on a thread, so that the test can break things while it runs."""

    def __init__(self, loadgen: Any, workload: Any) -> None:
        super().__init__(name="test-replay")
        self.loadgen, self.workload = loadgen, workload
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.loadgen.replay(self.workload.lfns, self.workload.kbs)
        except BaseException as exc:  # handed to the test thread
            self.error = exc

    def wait_acked(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.loadgen.acked < n:
            assert time.monotonic() < deadline and self.error is None, f"stuck at {self.loadgen.acked}: {self.error}"
            time.sleep(0.01)

    def finish(self, timeout: float = 120.0) -> LoadResult:
        self.join(timeout)
        assert not self.is_alive(), "the replay did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _check_nothing_lost(store: AnswerStore, result: LoadResult, workload: Any, offline: bytes) -> dict:
    counters = store.counters()
    assert result.accesses == len(workload.lfns) and result.acknowledged == result.records
    assert counters["next_seq"] == counters["records"] == result.records
    assert counters["answers"] == len(workload.lfns)  # one answer per access, none twice, none lost
    assert counters["lost"] == 0
    assert len(store.all_answers()) == len(set(workload.lfns))
    assert result.hit_flags == offline  # the same hits as Cache-v0, access for access
    return counters


def test_malformed_packets_are_counted_and_skipped(workload: Any, start_sidecar: Callable,
                                                   make_loadgen: Callable, policy_spec: Callable) -> None:
    policy = policy_spec("keep_by_tokens")
    sidecar = start_sidecar(lambda: PolicyActor(load_agent(policy)))
    good = encode_packet([AccessRecord("file_close", 0, workload.lfns[0], 1024, b_miss=1024)], 0, 1)
    bad = [b"", b"garbage", b"x" + good[1:], good + b"!", good[:HEADER.size] + b"{]" * 3,
           good.replace(workload.lfns[0].encode()[:8], b"/../../.")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        for packet in bad:
            s.sendto(packet, sidecar.sidecar.address)
        with pytest.raises(socket.timeout):
            s.recv(64)  # a malformed packet is not acknowledged
    loadgen = make_loadgen(sidecar.sidecar.port)
    result = loadgen.replay(workload.lfns, workload.kbs)
    counters = _check_nothing_lost(sidecar.sidecar.store, result, workload,
                                   workload.offline_hits(load_agent(policy)))
    assert counters["malformed"] == len(bad) == sidecar.sidecar.stats.malformed_packets


def test_a_killed_sidecar_restarts_without_losing_a_record(tmp_path: Path, workload: Any, redis_server: Any,
                                                          cache_dir: Path, make_loadgen: Callable,
                                                          policy_spec: Callable) -> None:
    from iroko_gym.xcache.redis_server import free_port

    policy = policy_spec("keep_by_tokens")
    port = free_port()
    argv = ["--cache-dir", str(cache_dir), "--capacity-kb", str(workload.capacity_kb), "--redis", redis_server.url,
            "--port", str(port), "--actor", "policy", "--policy", policy,
            "--vocab", str(default_trace_path())]
    never = threading.Event()
    sidecar = SidecarProcess(argv, tmp_path / "sidecar1.log")
    sidecar.wait_listening(never)
    replay = Replay(make_loadgen(port), workload)
    try:
        replay.wait_acked(len(workload.lfns) // 3)
        sidecar.proc.kill()  # a crash: no chance to finish the record in hand
        sidecar.stop()
        sidecar = SidecarProcess(argv, tmp_path / "sidecar2.log")
        sidecar.wait_listening(never)
        result = replay.finish()
    finally:
        summary = sidecar.stop()
    assert result.retransmits >= 1
    store = AnswerStore.connect(redis_server.url)
    try:
        _check_nothing_lost(store, result, workload, workload.offline_hits(load_agent(policy)))
    finally:
        store.close()
    assert summary["records"] < len(workload.lfns)  # the second process did only the rest


@pytest.mark.parametrize("redis_server, how", [("always", "kill"), ("everysec", "stop")],
                         indirect=["redis_server"], ids=["fsync-always-SIGKILL", "fsync-everysec-SIGTERM"])
def test_a_restarted_redis_with_persistence_loses_no_answer(workload: Any, redis_server: Any, how: str,
                                                           start_sidecar: Callable, make_loadgen: Callable,
                                                           policy_spec: Callable) -> None:
    policy = policy_spec("keep_by_tokens")
    sidecar = start_sidecar(lambda: PolicyActor(load_agent(policy)))
    replay = Replay(make_loadgen(sidecar.sidecar.port), workload)
    replay.wait_acked(len(workload.lfns) // 3)
    # SIGKILL: only what appendfsync already wrote survives; SIGTERM: Redis writes its AOF out first
    redis_server.kill() if how == "kill" else redis_server.stop()
    deadline = time.monotonic() + 60
    while sidecar.sidecar.stats.redis_errors == 0:  # the sidecar has run into the dead Redis
        assert time.monotonic() < deadline
        time.sleep(0.01)
    redis_server.start()  # same port, same directory: replays its AOF
    result = replay.finish()
    _check_nothing_lost(sidecar.sidecar.store, result, workload, workload.offline_hits(load_agent(policy)))


@pytest.fixture
def learner(tmp_path: Path) -> Any:
    pytest.importorskip("torch", reason="the remote actor needs: pip install 'iroko_gym[remote]'")
    from iroko_gym.remote.server import RemoteServer, ServerConfig

    class Learner:
        def __init__(self) -> None:
            self.port = 0
            self.start()

        def start(self) -> None:
            self.server = RemoteServer(ServerConfig(port=self.port, checkpoint_dir=tmp_path / "ckpt",
                                                    max_workers=4, checkpoint_every=1)).start()
            self.port = self.server.port

        def restart(self) -> None:
            self.server.close(grace=0.1)
            self.start()

    made = Learner()
    yield made
    made.server.close(grace=0.1)


def test_a_restarted_actor_keeps_answering_and_learning(workload: Any, learner: Any, start_sidecar: Callable,
                                                       make_loadgen: Callable) -> None:
    from iroko_gym.xcache.service import ActorSpec

    spec = ActorSpec(server_address=f"127.0.0.1:{learner.port}", rollout_steps=128, segment_steps=32)
    sidecar = start_sidecar(spec.build)
    replay = Replay(make_loadgen(sidecar.sidecar.port), workload)
    replay.wait_acked(len(workload.lfns) // 3)
    learner.restart()  # drains, checkpoints, and comes back on the same port
    result = replay.finish()
    counters = sidecar.sidecar.store.counters()
    assert counters["answers"] == len(workload.lfns) and counters["lost"] == 0
    agent = sidecar.sidecar.actor.agent
    assert agent.flush(30)
    stats = agent.stats()
    assert stats.dropped_overflow == stats.dropped_rejected == 0
    assert stats.trajectories_sent == stats.trajectories_ended >= len(workload.lfns) // 32 - 1
    assert learner.server.metrics().learners[0].steps_received > 0  # the new server trains on
    assert result.acknowledged == result.records


def test_fire_and_forget_counts_what_a_stopped_sidecar_missed(workload: Any, start_sidecar: Callable,
                                                              make_loadgen: Callable) -> None:
    """``window=0`` never resends: records sent while the sidecar is down are lost, and counted."""
    sidecar = start_sidecar(lambda: PolicyActor(load_agent("always-keep")))
    loadgen = make_loadgen(sidecar.sidecar.port, window=0)
    third = len(workload.lfns) // 3
    loadgen.replay(workload.lfns[:third], workload.kbs[:third])
    sidecar.stop()
    for lfn, kb in zip(workload.lfns[third:2 * third], workload.kbs[third:2 * third], strict=True):
        loadgen.access(lfn, kb)  # to a closed port: dropped
    sidecar.start()
    result = loadgen.replay(workload.lfns[2 * third:], workload.kbs[2 * third:])
    assert result.acknowledged == result.records  # the restarted sidecar caught up with the rest
    counters = sidecar.sidecar.store.counters()
    assert counters["lost"] >= third  # at least the accesses made while it was down
    assert counters["records"] + counters["lost"] == result.records == counters["next_seq"]
    assert counters["hits"] + counters["misses"] + counters["purged_files"] == counters["records"]


def test_files_gone_from_disk_while_the_sidecar_was_down_are_taken_off_the_list(
        workload: Any, start_sidecar: Callable, make_loadgen: Callable, cache_dir: Path) -> None:
    """What a crash between a cleanup's unlink and its commit leaves: listed files not on disk."""
    from iroko_gym.xcache.naming import file_path

    sidecar = start_sidecar(lambda: PolicyActor(load_agent("always-keep")))
    make_loadgen(sidecar.sidecar.port).replay(workload.lfns[:300], workload.kbs[:300])
    listed = sidecar.sidecar.store.cached_files()
    sidecar.stop()
    for lfn in listed[:5]:
        file_path(cache_dir, lfn).unlink()
    sidecar.start()
    restored, store = sidecar.sidecar, sidecar.sidecar.store
    assert restored.next_seq == 300 and len(restored.order) == len(listed) - 5
    assert store.cached_files() == listed[5:]
    assert restored.order.used_kb == sum(store.all_answers()[lfn].kb for lfn in listed[5:])
    assert store.counters()["used_kb"] == restored.order.used_kb
