#!/usr/bin/env python3
"""Benchmark suite: agents vs baselines on the emulated data center (and the cache gyms).

    sudo -E .venv/bin/python benchmark.py run --quick --out results/quick
    sudo -E .venv/bin/python benchmark.py run --agents tcp,fair,aimd,ppo --topo dumbbell,fattree \\
        --topo-params '{"fattree": {"k": 4}}' --patterns incast,stride,hotspot --seeds 3 --episodes 2 \\
        --out results/my-run
    .venv/bin/python benchmark.py plot results/my-run
    .venv/bin/python benchmark.py cache --out results/my-run

See docs/benchmark.md.  ``benchmark.py --quick ...`` (no subcommand) means ``run``.
"""

from __future__ import annotations

import sys

from iroko_gym.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
