"""Performance benchmarks: speed and accuracy scripts that print figures and write JSON.

Not the benchmark suite (``benchmark.py``, :mod:`iroko_gym.bench`, which compares agents): these
scripts time the env, the traffic manager, the cache gyms, the remote service and RLlib
sampling, and print each figure next to its target.  Run them as modules from the repository
root, e.g. ``sudo -E .venv/bin/python -m perf.dc_env --quick``; each writes
``perf/out/<script>.json`` atomically.  The figures and their targets are in README.md
("Performance benchmarks").
"""
