"""``python -m iroko_gym.bench``: the benchmark CLI (same as ``benchmark.py``)."""

from __future__ import annotations

import sys

from iroko_gym.bench.cli import main

sys.exit(main())
