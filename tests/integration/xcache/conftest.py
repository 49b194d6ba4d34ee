"""Fixtures of the live cache tests: a private redis-server, a sidecar thread, a replay helper."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

pytest.importorskip("redis", reason="the live cache needs: pip install 'iroko_gym[xcache]'")

import iroko_gym  # noqa: F401  (registers Cache-v0)
from iroko_gym.cache.core import CacheGeometry
from iroko_gym.cache.trace import default_trace_path, load_trace
from iroko_gym.xcache.actors import Actor
from iroko_gym.xcache.loadgen import LoadGenConfig, LoadGenerator
from iroko_gym.xcache.naming import load_vocab, trace_lfns
from iroko_gym.xcache.redis_server import RedisServer
from iroko_gym.xcache.sidecar import Sidecar, SidecarConfig

if shutil.which("redis-server") is None:
    pytest.skip("the live cache tests need Debian's redis-server (./install.sh)", allow_module_level=True)

SIZE_TB = 2.0
LENGTH = 1500
VOCAB = default_trace_path()  # the pipeline keeps the vocabulary in the trace
POLICIES = Path(__file__).with_name("policies.py")
EXAMPLE_AGENT = Path(__file__).parents[3] / "examples" / "cache_agent.py"


@pytest.fixture(scope="session")
def policy_spec() -> Callable[[str], str]:
    """``name`` -> an agent spec for load_agent / ``--policy`` (test policies, the example, built-ins)."""
    def spec(name: str) -> str:
        if name == "dataset-popularity":
            return f"{EXAMPLE_AGENT}:DatasetPopularity"
        return name if name in ("always-keep", "never-keep") else f"{POLICIES}:{name}"
    return spec


@dataclass
class Workload:
    lfns: list[str]
    kbs: list[int]
    capacity_kb: int

    def offline_hits(self, policy: Callable[[Any], int]) -> bytes:
        """``Cache-v0``'s hit (1) or miss (0) for every access, with ``policy``."""
        env = gym.make("Cache-v0", cache_size_tb=SIZE_TB, length=len(self.lfns))
        obs, info = env.reset(seed=0)
        hits = [info["hit"]]
        terminated = False
        while not terminated:
            obs, _, terminated, _, info = env.step(policy(obs))
            hits.append(info["hit"])
        env.close()
        return bytes(int(h) for h in hits)


@pytest.fixture(scope="session")
def workload() -> Workload:
    trace = load_trace()
    return Workload(trace_lfns(trace, load_vocab(VOCAB))[:LENGTH], trace.kb[:LENGTH].tolist(),
                    CacheGeometry.from_tb(SIZE_TB).capacity_kb)


@pytest.fixture
def redis_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private persistent Redis; ``indirect`` parametrisation gives the fsync policy."""
    with RedisServer(tmp_path / "redis", persistent=True, fsync=getattr(request, "param", "always")) as server:
        yield server


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


class SidecarThread:
    """An in-process sidecar serving on a thread; ``restart()`` keeps its port."""

    def __init__(self, config: SidecarConfig, make_actor: Callable[[], Actor]) -> None:
        self.config, self.make_actor = config, make_actor
        self.sidecar: Sidecar | None = None
        self.start()

    def start(self) -> None:
        self.sidecar = Sidecar(self.config, self.make_actor())
        self.config = replace(self.config, port=self.sidecar.port)
        self.thread = threading.Thread(target=self.sidecar.serve_forever, name="test-sidecar")
        self.thread.start()

    def stop(self) -> None:
        if self.sidecar is not None:
            self.sidecar.stop()
            self.thread.join(30)
            self.sidecar.close()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def start_sidecar(redis_server: RedisServer, cache_dir: Path,
                  workload: Workload) -> Iterator[Callable[..., SidecarThread]]:
    started: list[SidecarThread] = []

    def start(make_actor: Callable[[], Actor], **overrides: Any) -> SidecarThread:
        options = {"cache_dir": cache_dir, "capacity_kb": workload.capacity_kb,
                   "redis_url": redis_server.url, "vocab": VOCAB, **overrides}
        sidecar = SidecarThread(SidecarConfig(**options), make_actor)
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in started:
        sidecar.stop()


@pytest.fixture
def make_loadgen(cache_dir: Path, workload: Workload) -> Iterator[Callable[..., LoadGenerator]]:
    made: list[LoadGenerator] = []

    def make(port: int, **overrides: Any) -> LoadGenerator:
        options = {"cache_dir": cache_dir, "capacity_kb": workload.capacity_kb, "sidecar_port": port,
                   "ack_timeout_s": 0.2, **overrides}
        loadgen = LoadGenerator(LoadGenConfig(**options))
        made.append(loadgen)
        return loadgen

    yield make
    for loadgen in made:
        loadgen.close()
