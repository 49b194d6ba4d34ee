"""Episode-level flow statistics from the generator's per-flow records."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from iroko_gym.dc.traffic.goben import FlowRecord


def summarise_flows(records: Sequence[FlowRecord]) -> dict[str, Any]:
    """Counts, bytes and flow completion times (mean, p50, p99 in seconds) of one episode."""
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
    return summary
