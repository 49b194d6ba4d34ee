"""Flow summaries: FCT statistics and slowdown against the ideal FCT at link rate."""

from __future__ import annotations

import pytest

from iroko_gym.dc.traffic.flows import flow_rows, ideal_fct_s, summarise_flows
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
    rows = flow_rows(records, t)
    assert [r["dst"] for r in rows] == ["h16"] * 4
    assert rows[0]["ideal_fct_s"] == pytest.approx(ideal)
    assert [r["slowdown"] for r in rows] == [pytest.approx(2.0), pytest.approx(4.0), None, None]
    summary = summarise_flows(records, t)
    assert summary["completed"] == 2 and summary["flows"] == 4
    assert summary["slowdown_mean"] == pytest.approx(3.0)
    assert summary["slowdown_p50"] == pytest.approx(3.0)
    assert "slowdown_mean" not in summarise_flows(records)  # no topology, no ideal


def test_slowdown_uses_the_slower_access_link():
    t = make_topology("dumbbell", hosts_per_side=1, capacity_mbps=5)
    (row,) = flow_rows([_rec(0, "h1", t.host("h2").ip, 625_000, 1.0)], t)
    assert row["ideal_fct_s"] == pytest.approx(ideal_fct_s(625_000, 5e6, 3))
