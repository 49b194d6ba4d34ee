"""An episode's flow results, computed once when the episode stops: records, per-flow rows, summary.

The same value feeds ``info`` at the end of an episode (``flows``, ``flow_rows``,
``flow_records``), the episode's ``flows.json`` and the benchmark's stored ``flows.parquet``, so
that all three agree.

Slowdown is a flow's completion time over its ideal completion time on an empty network:
``ideal = size * 8 / C + hops * (MTU + ACK) * 8 / C`` with ``C`` the smaller access-link rate of
the two hosts and ``hops`` the links of a shortest path (store-and-forward of one full packet out
and one 64-byte ACK back over each link; veth links add no propagation delay).  Long-lived
flows (size 0) and flows that did not complete have no slowdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from iroko_gym.dc.traffic.goben import FlowRecord
from iroko_gym.dc.traffic.pattern import TrafficPattern
from iroko_gym.topologies.base import MTU_BYTES, Topology

ACK_BYTES = 64
#: Columns of a per-flow row, in order (the benchmark stores them with an ``episode`` column first).
FLOW_COLUMNS = ("flow_id", "src", "dst", "proto", "size_bytes", "bytes_sent", "start_s", "start_ns", "end_ns",
                "status", "fct_s", "ideal_fct_s", "slowdown")


def ideal_fct_s(size_bytes: int, capacity_bps: float, hops: int) -> float:
    """Completion time of a ``size_bytes`` flow alone on ``hops`` links of ``capacity_bps``."""
    return size_bytes * 8.0 / capacity_bps + hops * (MTU_BYTES + ACK_BYTES) * 8.0 / capacity_bps


def _start_s(record: FlowRecord, pattern: TrafficPattern | None) -> float | None:
    """The scheduled start of the record's flow: its id ends in the flow's index in the pattern."""
    if pattern is None:
        return None
    index = record.flow_id.rsplit("-", 1)[-1]
    return pattern.flows[int(index)].start_s if index.isdigit() and int(index) < len(pattern.flows) else None


def _row(r: FlowRecord, topology: Topology, pattern: TrafficPattern | None) -> dict[str, Any]:
    dst = topology.host_by_ip.get(r.dst.split(":")[0])
    ideal = None
    if dst is not None and r.bytes_requested > 0:
        capacity = min(topology.host_capacity_mbps(r.src), topology.host_capacity_mbps(dst.name)) * 1e6
        ideal = ideal_fct_s(r.bytes_requested, capacity, topology.hops(r.src, dst.name))
    fct = r.fct_s
    return {"flow_id": r.flow_id, "src": r.src, "dst": dst.name if dst else r.dst, "proto": r.proto,
            "size_bytes": r.bytes_requested, "bytes_sent": r.bytes_sent, "start_s": _start_s(r, pattern),
            "start_ns": r.start_ns, "end_ns": r.end_ns, "status": r.status, "fct_s": fct, "ideal_fct_s": ideal,
            "slowdown": fct / ideal if fct is not None and ideal else None}


def _summary(records: Sequence[FlowRecord], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    fcts = np.array([r.fct_s for r in records if r.done], dtype=np.float64)
    summary: dict[str, Any] = {
        "flows": len(records),
        "started": sum(1 for r in records if r.started),
        "completed": int(fcts.size),
        "errors": sum(1 for r in records if r.status.startswith("error")),
        "bytes_sent": int(sum(r.bytes_sent for r in records)),
    }
    if fcts.size:
        summary.update(fct_mean_s=float(fcts.mean()), fct_p50_s=float(np.percentile(fcts, 50)),
                       fct_p99_s=float(np.percentile(fcts, 99)))
    slow = np.array([row["slowdown"] for row in rows if row["slowdown"] is not None], dtype=np.float64)
    if slow.size:
        summary.update(slowdown_mean=float(slow.mean()), slowdown_p50=float(np.percentile(slow, 50)),
                       slowdown_p99=float(np.percentile(slow, 99)))
    return summary


@dataclass(frozen=True)
class FlowResults:
    """What the flows of one episode did: ``records`` as the generator wrote them, one row per flow
    (``FLOW_COLUMNS``) and the summary (counts, bytes, FCT and slowdown mean/p50/p99)."""

    records: tuple[FlowRecord, ...] = ()
    rows: tuple[dict[str, Any], ...] = ()
    summary: dict[str, Any] = field(default_factory=lambda: _summary((), ()))

    @classmethod
    def of(cls, records: Sequence[FlowRecord], topology: Topology,
           pattern: TrafficPattern | None = None) -> FlowResults:
        """Results of ``records`` on ``topology``; ``pattern`` (the episode's) adds scheduled starts."""
        rows = tuple(_row(r, topology, pattern) for r in records)
        return cls(tuple(records), rows, _summary(records, rows))

    def to_json(self) -> dict[str, Any]:
        """The content of an episode's ``flows.json``."""
        return {"summary": self.summary, "flows": list(self.rows)}
