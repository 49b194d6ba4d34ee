"""Flow results: per-flow rows, FCT statistics and slowdown against the ideal FCT at link rate."""

from __future__ import annotations

import pytest

from iroko_gym.dc.traffic.flow_results import FlowResults, ideal_fct_s
from iroko_gym.dc.traffic.goben import FlowRecord
from iroko_gym.topologies import make_topology


def _rec(i: int, src: str, dst_ip: str, size: int, fct_s: float | None, status: str = "done") -> FlowRecord:
    start = 1_000_000_000
    end = start + int((fct_s or 0) * 1e9)
    return FlowRecord(f"{src}-{i}", src, dst_ip, "tcp", size, size, start, end, status)


def test_ideal_fct_is_serialisation_plus_per_hop_store_and_forward():
    assert ideal_fct_s(1_250_000, 10e6, 2) == pytest.approx(1.0 + 2 * 1564 * 8 / 10e6)


def test_hop_counts_follow_the_topology():
    t = make_topology("fattree", k=4)
    assert [t.hops("h1", h) for h in ("h2", "h3", "h16")] == [2, 4, 6]
    assert make_topology("dumbbell").hops("h1", "h3") == 3


def test_slowdown_per_flow_and_in_the_summary():
    t = make_topology("fattree", k=4, capacity_mbps=10)
    h16 = t.host("h16").ip
    ideal = ideal_fct_s(1_250_000, 10e6, 6)
    records = [_rec(0, "h1", h16, 1_250_000, 2 * ideal), _rec(1, "h2", h16, 1_250_000, 4 * ideal),
               _rec(2, "h3", h16, 0, None, "stopped"), _rec(3, "h4", h16, 1_250_000, None, "timeout")]
    results = FlowResults.of(records, t)
    rows = results.rows
    assert [r["dst"] for r in rows] == ["h16"] * 4
    assert rows[0]["ideal_fct_s"] == pytest.approx(ideal)
    assert [r["slowdown"] for r in rows] == [pytest.approx(2.0), pytest.approx(4.0), None, None]
    summary = results.summary
    assert summary["completed"] == 2 and summary["flows"] == 4
    assert summary["slowdown_mean"] == pytest.approx(3.0)
    assert summary["slowdown_p50"] == pytest.approx(3.0)
    assert "slowdown_mean" not in FlowResults.of(records[2:], t).summary  # no completed sized flow, no slowdown


def test_slowdown_uses_the_slower_access_link():
    t = make_topology("dumbbell", hosts_per_side=1, capacity_mbps=5)
    (row,) = FlowResults.of([_rec(0, "h1", t.host("h2").ip, 625_000, 1.0)], t).rows
    assert row["ideal_fct_s"] == pytest.approx(ideal_fct_s(625_000, 5e6, 3))


def test_rows_carry_the_scheduled_start_from_the_episode_pattern():
    from iroko_gym.dc.traffic.pattern import Flow, TrafficPattern

    t = make_topology("dumbbell")
    pattern = TrafficPattern("p", (Flow("h1", "h3", 0.0, 1000), Flow("h2", "h3", 0.5, 2000)))
    (row,) = FlowResults.of([_rec(1, "h2", t.host("h3").ip, 2000, 0.1)], t, pattern).rows
    assert row["start_s"] == 0.5 and row["size_bytes"] == 2000
