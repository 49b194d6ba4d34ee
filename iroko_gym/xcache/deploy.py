"""The whole live cache in one command: Redis, the actor, the sidecar and the load generator.

    iroko-xcache [--trace T.parquet] [--cache-size-tb 2] [--length 3000] [--actor remote|policy]

Everything lives in one temporary directory (cache files, Redis data, learner checkpoints) and
binds 127.0.0.1 on free ports.  The command replays the trace, prints the hit rate, accesses/s
and what the sidecar stored, and removes everything it started.  Ctrl-C (SIGINT) or SIGTERM
stops the replay at the next access and tears down in order: sidecar (its actor flushes), actor
server, Redis, directory.  Children run in their own sessions, so the parent decides that order,
and get SIGTERM if the parent dies.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import iroko_gym
from iroko_gym.atomic import atomic_write
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.trace import default_trace_path, load_trace
from iroko_gym.errors import IrokoError
from iroko_gym.validate import check_choice, check_int
from iroko_gym.xcache.loadgen import LoadGenConfig, LoadGenerator, LoadResult, trace_window
from iroko_gym.xcache.naming import trace_lfns, vocab_or_none
from iroko_gym.xcache.redis_server import RedisServer, free_port, spawn
from iroko_gym.xcache.service import add_actor_arguments
from iroko_gym.xcache.store import AnswerStore

log = logging.getLogger(__name__)

LISTEN_TIMEOUT_S = 60.0


class DeploymentError(IrokoError, RuntimeError):
    """A part of the deployment did not start or stopped early."""


class SidecarProcess:
    """``iroko-xcache-sidecar`` as a child process; ``stop()`` returns its final counters."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        env = dict(os.environ)
        package_root = str(Path(iroko_gym.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.log_path = log_path
        self._summary: dict[str, Any] | None = None
        self._log = open(log_path, "wb")
        self.proc = spawn([sys.executable, "-m", "iroko_gym.xcache.service", *argv],
                          stdout=subprocess.PIPE, stderr=self._log, env=env)
        self.port = 0

    def wait_listening(self, stop: threading.Event) -> int:
        """The sidecar's UDP port, once it has connected to its actor and Redis and listens."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline and not stop.is_set():
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline().decode()
                if "listening on" in line:
                    self.port = int(line.rsplit(":", 1)[1])
                    return self.port
                if not line:
                    break
        self.stop()
        why = "stopped by a signal" if stop.is_set() else f"see its log: {self.tail()}"
        raise DeploymentError(f"the sidecar did not start listening ({why})")

    def tail(self) -> str:
        """The last lines of the sidecar's stderr (read after it stopped)."""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) if lines else "empty"

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """SIGTERM, wait (SIGKILL after ``timeout``); the sidecar's summary line, if it printed one."""
        if self._summary is not None:
            return self._summary
        summary: dict[str, Any] = {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("sidecar pid %d ignored SIGTERM for %.0f s; killing it", self.proc.pid, timeout)
            self.proc.kill()
            out, _ = self.proc.communicate()
        self._log.close()
        for line in (out or b"").decode().splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        self._summary = summary
        return summary


@dataclass(frozen=True)
class DeployOptions:
    trace: Path | None = None
    vocab: Path | None = None
    cache_size_tb: float = 2.0
    start: int = 0
    length: int | None = 3000
    window: int = 1
    scale: int = 2**20
    redis_fsync: str = "always"
    remote_actor: bool = True            # the training service; False: --actor policy in actor_argv
    actor_argv: tuple[str, ...] = ("--actor", "remote")

    def __post_init__(self) -> None:  # what the parts would refuse only after everything started
        check_int("window", self.window, 0)
        check_int("scale", self.scale, 1)
        check_choice("redis_fsync", self.redis_fsync, ("always", "everysec"))


def run(options: DeployOptions, stop: threading.Event, announce: Any = print) -> dict[str, Any]:
    """Start every part, replay, tear down; returns the summary (see :func:`describe`)."""
    trace = load_trace(options.trace)
    vocab_file = options.vocab or Path(options.trace or default_trace_path())
    vocab = vocab_or_none(vocab_file, required=options.vocab is not None)
    if vocab is None:
        vocab_file = None
    begin, end = trace_window(trace, options.start, options.length)
    lfns = trace_lfns(trace, vocab)[begin:end]
    kbs = trace.kb[begin:end].tolist()
    geometry = CacheGeometry.from_tb(options.cache_size_tb)
    geometry.check_fits(max(kbs))
    remote = options.remote_actor
    workdir = Path(tempfile.mkdtemp(prefix="iroko-xcache-"))
    with ExitStack() as stack:
        stack.callback(_remove_tree, workdir)
        redis_server = stack.enter_context(RedisServer(workdir / "redis", persistent=True,
                                                           fsync=options.redis_fsync))
        # the learner's port is chosen first and the server started after the sidecar is spawned:
        # forking once gRPC's threads run draws warnings from gRPC's fork handlers
        server_address = f"127.0.0.1:{free_port()}" if remote else "127.0.0.1:0"
        cache_dir = workdir / "cache"
        cache_dir.mkdir()
        argv = ["--cache-dir", str(cache_dir), "--capacity-kb", str(geometry.capacity_kb),
                "--redis", redis_server.url, "--server", server_address, *options.actor_argv]
        if vocab_file is not None:
            argv += ["--vocab", str(vocab_file)]
        server = None
        if remote:
            from iroko_gym.remote.server import RemoteServer, ServerConfig

            server = RemoteServer(ServerConfig(port=int(server_address.rsplit(":", 1)[1]),
                                               checkpoint_dir=workdir / "learner", max_workers=4))
            stack.callback(server.close)  # registered first, so it runs after the sidecar's flush
        sidecar = SidecarProcess(argv, workdir / "sidecar.log")
        final: dict[str, Any] = {}
        stack.callback(lambda: final.update(sidecar.stop()))
        if server is not None:
            server.start()
        sidecar.wait_listening(stop)
        announce(f"iroko-xcache: redis pid {redis_server.pid} on 127.0.0.1:{redis_server.port}, "
                 f"sidecar pid {sidecar.proc.pid} on 127.0.0.1:{sidecar.port}, "
                 f"actor {'on ' + server_address if remote else 'local policy'}, workdir {workdir}")
        config = LoadGenConfig(cache_dir=cache_dir, capacity_kb=geometry.capacity_kb,
                               sidecar_port=sidecar.port, window=options.window, scale=options.scale)
        with LoadGenerator(config) as loadgen:
            result = loadgen.replay(lfns, kbs, stop=stop)
        final.update(sidecar.stop())
        store = AnswerStore.connect(redis_server.url)
        try:
            stored = _stored(store)
        finally:
            store.close()
        actor = {}
        if server is not None:
            metrics = server.metrics().learners
            m = metrics[0] if metrics else None
            actor = {"learner_version": int(m.version) if m else 0,
                     "learner_steps": int(m.steps_received) if m else 0,
                     "learner_steps_trained": int(m.steps_trained) if m else 0,
                     "stale_trajectories": int(m.stale_dropped) if m else 0}
    return describe(result, stored, final, actor, stopped=stop.is_set())


def _stored(store: AnswerStore) -> dict[str, Any]:
    answers = store.all_answers()
    cached = store.cached_files()
    counters = store.counters()
    keep1 = sum(a.keep for a in answers.values())
    return {"answered_files": len(answers), "keep_1_files": keep1, "cached_files": len(cached),
            **{k: counters[k] for k in ("answers", "used_kb", "evicted_files", "purged_files", "lost",
                                         "malformed", "records")}}


def describe(result: LoadResult, stored: dict[str, Any], sidecar: dict[str, Any], actor: dict[str, Any],
             stopped: bool) -> dict[str, Any]:
    return {"hit_rate": result.hit_rate, "accesses": result.accesses, "hits": result.hits,
            "accesses_per_s": result.accesses_per_s, "seconds": result.seconds,
            "retransmits": result.retransmits, "cache_purged_files": result.purged_files,
            "disk_bytes_read": result.bytes_read, "disk_bytes_written": result.bytes_written,
            "stored": stored, "sidecar": sidecar, "actor": actor, "stopped_early": stopped}


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError:
        log.exception("could not remove the deployment directory %s", path)


def format_summary(s: dict[str, Any]) -> str:
    st = s["stored"]
    lines = [
        f"hit rate {s['hit_rate']:.4f} ({s['hits']} of {s['accesses']} accesses){' (stopped early)' * s['stopped_early']}",
        f"{s['accesses_per_s']:.0f} accesses/s end to end ({s['seconds']:.1f} s); on disk "
        f"{s['disk_bytes_read'] / 1e6:.1f} MB read, {s['disk_bytes_written'] / 1e6:.1f} MB written",
        f"stored in Redis: {st['answers']} answers for {st['answered_files']} files "
        f"(keep=1 now for {st['keep_1_files']}), {st['cached_files']} files in the cache "
        f"({st['used_kb'] / 1024**3:.3f} TB), {st['evicted_files']} removed by the sidecar, "
        f"{st['purged_files']} by the cache itself, {st['lost']} records lost, {st['malformed']} malformed",
    ]
    if s["sidecar"].get("latency_p50_ms") is not None:
        lines.append(f"decision latency p50 {s['sidecar']['latency_p50_ms']:.2f} ms, "
                     f"p99 {s['sidecar']['latency_p99_ms']:.2f} ms")
    if s["actor"]:
        a = s["actor"]
        lines.append(f"actor: learner version {a['learner_version']} after {a['learner_steps']} steps received "
                     f"({a['learner_steps_trained']} trained on, {a['stale_trajectories']} trajectories too stale)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iroko-xcache", description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, help="processed trace (default: the bundled one)")
    parser.add_argument("--vocab", type=Path,
                        help="its vocabulary: a trace made by the pipeline or a JSON file (default: the trace's own)")
    parser.add_argument("--cache-size-tb", type=float, default=2.0)
    parser.add_argument("--start", type=int, default=0, help="first trace row")
    parser.add_argument("--length", type=int, default=3000, help="accesses to replay (0: to the end)")
    parser.add_argument("--window", type=int, default=1,
                        help="records the cache may send ahead of the sidecar's acks (1: lock step, 0: never wait)")
    parser.add_argument("--scale", type=int, default=2**20, help="logical bytes per byte on disk")
    parser.add_argument("--redis-fsync", default="always", choices=("always", "everysec"),
                        help="Redis AOF fsync: always (no answer lost if Redis crashes) or everysec (faster)")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    add_actor_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="iroko-xcache: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    actor_argv = ("--actor", args.actor, "--policy", args.policy, "--client-id", args.client_id,
                  "--segment-steps", str(args.segment_steps), "--rollout-steps", str(args.rollout_steps),
                  "--seed", str(args.seed))
    try:
        options = DeployOptions(trace=args.trace, vocab=args.vocab, cache_size_tb=args.cache_size_tb,
                                start=args.start, length=args.length or None, window=args.window,
                                scale=args.scale, redis_fsync=args.redis_fsync,
                                remote_actor=args.actor == "remote", actor_argv=actor_argv)
        summary = run(options, stop, announce=lambda line: print(line, flush=True))
    except IrokoError as exc:
        print(f"iroko-xcache: {exc}", file=sys.stderr)
        return 130 if stop.is_set() else 2
    print(format_summary(summary), flush=True)
    if args.json:
        atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(summary, indent=1, sort_keys=True)))
    return 130 if summary["stopped_early"] else 0


if __name__ == "__main__":
    sys.exit(main())
