"""Episode-level flow statistics from the generator's per-flow records.

Slowdown is a flow's completion time over its ideal completion time on an empty network:
``ideal = size * 8 / C + base_rtt`` with ``C`` the smaller access-link rate of the two hosts and
``base_rtt = hops * (MTU + ACK) * 8 / C`` (store-and-forward of one full packet out and one
64-byte ACK back over each of the ``hops`` links of a shortest path; veth links add no
propagation delay).  Long-lived flows (size 0) have no slowdown.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from iroko_gym.dc.traffic.goben import FlowRecord
from iroko_gym.topologies.base import MTU_BYTES, Topology

ACK_BYTES = 64


def ideal_fct_s(size_bytes: int, capacity_bps: float, hops: int) -> float:
    """Completion time of a ``size_bytes`` flow alone on ``hops`` links of ``capacity_bps``."""
    return size_bytes * 8.0 / capacity_bps + hops * (MTU_BYTES + ACK_BYTES) * 8.0 / capacity_bps


def flow_rows(records: Sequence[FlowRecord], topology: Topology) -> list[dict[str, Any]]:
    """One row per flow: ids, size, status, FCT, ideal FCT and slowdown (None where undefined)."""
    rows = []
    for r in records:
        dst = topology.host_by_ip.get(r.dst.split(":")[0])
        ideal = None
        if dst is not None and r.bytes_requested > 0:
            capacity = min(topology.host_capacity_mbps(r.src), topology.host_capacity_mbps(dst.name)) * 1e6
            ideal = ideal_fct_s(r.bytes_requested, capacity, topology.hops(r.src, dst.name))
        fct = r.fct_s
        rows.append({"flow_id": r.flow_id, "src": r.src, "dst": dst.name if dst else r.dst, "proto": r.proto,
                     "bytes": r.bytes_requested, "status": r.status, "fct_s": fct, "ideal_fct_s": ideal,
                     "slowdown": fct / ideal if fct is not None and ideal else None})
    return rows


def summarise_flows(records: Sequence[FlowRecord], topology: Topology | None = None) -> dict[str, Any]:
    """Counts, bytes, flow completion times (mean, p50, p99 in seconds) and, given the topology, slowdown."""
    fcts = np.array([r.fct_s for r in records if r.done], dtype=np.float64)
    started = [r for r in records if r.started]
    summary: dict[str, Any] = {
        "flows": len(records),
        "started": len(started),
        "completed": int(fcts.size),
        "errors": sum(1 for r in records if r.status.startswith("error")),
        "bytes_sent": int(sum(r.bytes_sent for r in records)),
    }
    if fcts.size:
        summary.update(fct_mean_s=float(fcts.mean()), fct_p50_s=float(np.percentile(fcts, 50)),
                       fct_p99_s=float(np.percentile(fcts, 99)))
    if topology is not None:
        slow = np.array([row["slowdown"] for row in flow_rows(records, topology) if row["slowdown"] is not None])
        if slow.size:
            summary.update(slowdown_mean=float(slow.mean()), slowdown_p50=float(np.percentile(slow, 50)),
                           slowdown_p99=float(np.percentile(slow, 99)))
    return summary
