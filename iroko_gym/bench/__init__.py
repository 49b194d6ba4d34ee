"""Benchmark suite: agents x topologies x patterns x transports x seeds on the emulated network.

``python benchmark.py run ...`` (or ``python -m iroko_gym.bench run ...``) runs the grid and
stores raw results under ``results/<run-name>/``; ``plot`` draws figures and the summary table
from those files only.  See ``docs/benchmark.md``.  (The speed of the env and services is
measured elsewhere: the performance benchmarks in ``perf/``.)
"""
