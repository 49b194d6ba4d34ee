"""C++ client (clients/cpp) beside the Python client: request_for_action latency and actions/s.

    .venv/bin/python -m perf.cpp_client [--quick] [--build build/cpp] [--cartpole]

One run each, with the same model (64x64 MLP, 8 observations, 4 actions, PPO) and the same loop as
perf/remote.py's ``bench_actions``: per-call latency with a trajectory ended every 200 calls, then
the full decision loop (act, reward, record, end every 200). ``--cartpole`` also trains the C++
CartPole example to a mean return of 475 through a server process. Prints JSON lines and writes
perf/out/cpp_client.json. Build first: ./install.sh (or cmake, see docs/cpp-client.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from perf._common import write_result
from perf.remote import ACTIONS, HIDDEN, OBS, REPO, bench_actions, start_server, stop_server


def cpp_actions(build: Path, n: int) -> dict:
    """iroko_drive's ``bench`` command against an in-process server."""
    from iroko_gym.remote.server import RemoteServer, ServerConfig

    with RemoteServer(ServerConfig()) as server, tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "client.json"
        cfg.write_text(json.dumps({
            "client_id": "latency-cpp", "observation_size": OBS, "action": {"n": ACTIONS},
            "params": {"hidden_sizes": list(HIDDEN), "rollout_steps": 10**6},
            "server_address": server.address, "batch_size": 64, "seed": 0}))
        done = subprocess.run([str(build / "iroko_drive"), str(cfg)], input=f"bench {n}\nclose 30\n",
                              capture_output=True, text=True, timeout=600, check=True)
        _ready, figures, _closed = (json.loads(line) for line in done.stdout.splitlines())
    return figures


def cpp_cartpole(build: Path) -> dict:
    """The C++ CartPole example trained to a mean return of 475 through a server process."""
    proc, address = start_server()
    try:
        done = subprocess.run([str(build / "cartpole_remote"), "--address", address, "--steps",
                               "400000", "--target", "475", "--seed", "0"],
                              capture_output=True, text=True, timeout=1800, check=True)
    finally:
        stop_server(proc)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (a smoke run)")
    parser.add_argument("--build", type=Path, default=REPO / "build" / "cpp",
                        help="build directory of clients/cpp (default: build/cpp, install.sh's)")
    parser.add_argument("--cartpole", action="store_true", help="also train the CartPole example")
    args = parser.parse_args()
    if not (args.build / "iroko_drive").exists():
        sys.exit(f"{args.build / 'iroko_drive'} is missing: run ./install.sh, or cmake -S clients/cpp "
                 f"-B {args.build} && cmake --build {args.build} -j2")

    import torch

    torch.set_num_threads(1)
    n = 20_000 if args.quick else 200_000
    result: dict = {"model": {"obs": OBS, "actions": ACTIONS, "hidden": HIDDEN}, "calls": n}
    result["python"] = bench_actions(n)
    print(json.dumps({"python": result["python"]}), flush=True)
    result["cpp"] = cpp_actions(args.build, n)
    print(json.dumps({"cpp": result["cpp"]}), flush=True)
    result["cpp_over_python"] = {key: result["cpp"][key] / result["python"][key]
                                 for key in ("request_for_action_per_s", "client_loop_actions_per_s")}
    print(json.dumps({"cpp_over_python": result["cpp_over_python"]}), flush=True)
    if args.cartpole:
        result["cartpole"] = cpp_cartpole(args.build)
        print(json.dumps({"cartpole": result["cartpole"]}), flush=True)
    out = write_result("cpp_client", result)
    print(json.dumps({"written": str(out)}))


if __name__ == "__main__":
    main()
