"""The load generator on a real directory: reads, fetches, scaled sizes, its own LRU purge."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from iroko_gym.xcache.loadgen import LoadGenConfig, LoadGenerator
from iroko_gym.xcache.naming import file_path
from iroko_gym.xcache.records import decode_packet


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A stand-in sidecar that receives but never acknowledges."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(1.0)
        yield s


def _records(listener: socket.socket, n: int) -> list:
    return [r for _ in range(n) for r in decode_packet(listener.recv(65536))]


def test_hits_read_misses_write_scaled_files_and_the_cache_purges_lru(tmp_path: Path, listener) -> None:
    config = LoadGenConfig(cache_dir=tmp_path, capacity_kb=1000, sidecar_port=listener.getsockname()[1],
                           window=0, scale=1024)
    lfns = [f"/s/s.data/f{i}.root" for i in range(10)]
    with LoadGenerator(config) as loadgen:
        assert [loadgen.access(lfn, 100) for lfn in lfns] == [False] * 10  # fill 1000 kB, above 98 %
        # before the next access the cache purges to 96 %: f0, the least recently used, goes
        assert loadgen.access(lfns[5], 100) is True
        assert loadgen.access(lfns[0], 100) is False  # fetched again
        records = _records(listener, 13)
    assert [r.seq for r in records] == list(range(13))
    assert [(r.event, r.lfn, r.hit) for r in records[10:]] == [
        ("file_purge", lfns[0], False), ("file_close", lfns[5], True), ("file_close", lfns[0], False)]
    assert all(r.size == 100 * 1024 and r.kb == 100 for r in records)
    assert file_path(tmp_path, lfns[1]).stat().st_size == 100  # 100 kB at 1024 logical bytes per byte
    assert sorted(p.name for p in (tmp_path / "s" / "s.data").iterdir()) == sorted(f"f{i}.root" for i in range(10))


@pytest.mark.faults
def test_a_silent_sidecar_is_reported_after_give_up_s(tmp_path: Path, listener) -> None:
    from iroko_gym.xcache.loadgen import SidecarUnreachable

    port = listener.getsockname()[1]
    config = LoadGenConfig(cache_dir=tmp_path, capacity_kb=1000, sidecar_port=port, window=1,
                           ack_timeout_s=0.05, give_up_s=0.3)
    with LoadGenerator(config) as loadgen:
        loadgen.access("/s/s.data/f1.root", 10)  # nothing unacknowledged yet: no wait
        with pytest.raises(SidecarUnreachable, match=f"127.0.0.1:{port} acknowledged nothing"):
            loadgen.access("/s/s.data/f2.root", 10)
    first = listener.recv(65536)
    assert all(listener.recv(65536) == first for _ in range(2))  # the record was sent again
