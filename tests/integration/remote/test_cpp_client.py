"""The C++ client (clients/cpp) against the Python one: same snapshot and observations give the
same outputs and action probabilities (within 1e-6) and bit-identical weights after diffs; the
same calls give the same drop/buffer accounting; its CartPole follows Gymnasium's step for step
and trains through the server; token and TLS work.

The client is built (incrementally) into $IROKO_CPP_BUILD_DIR, else build/cpp — the directory
install.sh builds. Without a compiler, CMake or Debian's gRPC/protobuf packages the tests skip,
unless IROKO_REQUIRE_CPP=1 (CI sets it) makes that a failure. Servers come from this
directory's conftest (127.0.0.1, port 0).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from iroko_gym.remote import gym_driver
from iroko_gym.remote.client import RemoteAgent
from iroko_gym.remote.config import ActionSpec, ClientConfig, algorithm_params
from iroko_gym.remote.policy import LocalPolicy
from iroko_gym.remote.protocol import MalformedMessage
from iroko_gym.remote.snapshots import ModelSnapshot, update_message

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "clients" / "cpp"
TOOLS = ("cmake", "c++", "protoc", "grpc_cpp_plugin", "pkg-config")
STAT_COUNTS = ("actions", "trajectories_ended", "trajectories_sent", "steps_sent", "buffered",
               "dropped_overflow", "dropped_rejected", "dropped_at_close", "model_updates",
               "full_models", "version")


def _missing() -> str | None:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not absent and subprocess.run(["pkg-config", "--exists", "grpc++", "protobuf"]).returncode:
        absent.append("libgrpc++-dev/libprotobuf-dev (pkg-config grpc++ protobuf)")
    if not absent:
        return None
    return (f"the C++ client needs {', '.join(absent)}: apt-get install cmake g++ libgrpc++-dev "
            "protobuf-compiler-grpc libprotobuf-dev protobuf-compiler (or run ./install.sh)")


@pytest.fixture(scope="session")
def cpp() -> Path:
    """The build directory with the client, its tools and the example, up to date."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("IROKO_REQUIRE_CPP") == "1":
            pytest.fail(f"IROKO_REQUIRE_CPP=1 but {reason}")
        pytest.skip(reason)
    build = Path(os.environ.get("IROKO_CPP_BUILD_DIR") or ROOT / "build" / "cpp")
    for argv in (["cmake", "-S", str(SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
                 ["cmake", "--build", str(build), "-j2"]):
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return build


def test_cpp_unit_tests_pass_under_ctest(cpp):
    """The C++ library's own unit tests (no server), so that the README's one test command runs them."""
    done = subprocess.run(["ctest", "--test-dir", str(cpp), "--output-on-failure"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "100% tests passed" in done.stdout


def config_file(path: Path, config: ClientConfig, params: dict[str, Any]) -> Path:
    """``config`` as the JSON file both clients read (``params``: what was given, not defaults)."""
    cfg = config
    action = {"n": cfg.action.n} if cfg.action.discrete else {"low": list(cfg.action.low),
                                                              "high": list(cfg.action.high)}
    doc = {"client_id": cfg.client_id, "observation_size": cfg.observation_size, "action": action,
           "algorithm": cfg.algorithm, "params": params, "server_address": cfg.server_address,
           "batch_size": cfg.batch_size, "flush_interval_s": cfg.flush_interval_s,
           "max_buffered_trajectories": cfg.max_buffered_trajectories,
           "connect_timeout_s": cfg.connect_timeout_s, "seed": cfg.seed, "token": cfg.token,
           "tls_ca_file": cfg.tls_ca_file}
    path.write_text(json.dumps(doc))
    return path


def client_config(address: str, algorithm: str = "PPO", action: ActionSpec | None = None,
                  params: dict[str, Any] | None = None, **fields: Any) -> tuple[ClientConfig, dict]:
    given = {"hidden_sizes": [64, 64], "seed": 0, **(params or {})}
    options: dict[str, Any] = {"client_id": "c1", "observation_size": 4, "seed": 0,
                               "connect_timeout_s": 10.0, **fields}
    config = ClientConfig(action=action or ActionSpec(n=3), algorithm=algorithm,
                          params=algorithm_params(algorithm, given), server_address=address,
                          **options)
    return config, given


# -- same snapshot, same observations -------------------------------------------------------

def probe(cpp: Path, tmp_path: Path, config: ClientConfig, params: dict, updates: list,
          obs: np.ndarray, masks: np.ndarray | None) -> dict:
    cfg = config_file(tmp_path / "probe.json", config, params)
    (tmp_path / "obs.f32").write_bytes(obs.astype("<f4").tobytes())
    mask_arg = "-"
    if masks is not None:
        (tmp_path / "masks.u8").write_bytes(masks.astype(np.uint8).tobytes())
        mask_arg = str(tmp_path / "masks.u8")
    files = []
    for i, update in enumerate(updates):
        files.append(tmp_path / f"update{i}.bin")
        files[-1].write_bytes(update.SerializeToString())
    done = subprocess.run([str(cpp / "iroko_probe"), str(cfg), str(tmp_path / "obs.f32"), mask_arg,
                           *map(str, files)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def trained_history(make_server, config: ClientConfig, versions: int) -> list[ModelSnapshot]:
    """The last ``versions`` snapshots of a learner trained on synthetic episodes."""
    server = make_server()
    config = config.replace(server_address=server.address, batch_size=4, flush_interval_s=0.05)
    rng = np.random.default_rng(1)
    with RemoteAgent(config) as agent:
        for version in range(1, versions):
            for _ in range(4):
                traj = None
                for t in range(16):
                    traj, action = agent.request_for_action(traj, rng.standard_normal(4))
                    action.update_reward(float(np.sum(action.raw)) if not config.action.discrete
                                         else float(action.act == 0))
                    (agent.mark_end_of_trajectory if t == 15 else agent.add_to_trajectory)(traj, action)
            assert gym_driver.wait_for_model(agent, version, timeout=60)
    history = server.learner(config.client_id).history
    latest = history.latest.version
    return [history.get(v) for v in range(latest - versions + 1, latest + 1)]


def updates_for(history: list[ModelSnapshot]) -> list:
    """Full first version, then each as a diff — plus a hand-made sparse diff on top."""
    msgs = [update_message(history[0])] + [update_message(new, old)
                                           for old, new in zip(history, history[1:])]
    last = history[-1]
    tensors = {k: np.array(v) for k, v in last.tensors.items()}
    first = sorted(tensors)[0]
    tensors[first].reshape(-1)[[0, 5, 7]] += np.float32(0.125)
    sparse = ModelSnapshot.freeze(last.version + 1, tensors, {**last.scalars, "epsilon": 0.25})
    msg = update_message(sparse, last)
    assert first in msg.sparse and not msg.full  # the element-wise path is exercised
    return [*msgs, msg], sparse


def observations(n: int, size: int = 4) -> np.ndarray:
    rng = np.random.default_rng(7)
    obs = rng.standard_normal((n, size)).astype(np.float32)
    obs[: n // 4] *= 10  # large inputs: saturated tanh, peaked probabilities
    return obs


def assert_close_outputs(got: list[float], want: np.ndarray) -> None:
    """float32 outputs: equal up to summation order (BLAS vs a plain loop), i.e. a few ulps."""
    assert np.allclose(got, want, rtol=1e-6, atol=1e-6), (got, want)


def assert_same_tensors(result: dict, snapshot: ModelSnapshot) -> None:
    assert result["version"] == snapshot.version
    assert set(result["tensors"]) == set(snapshot.tensors)
    for name, array in snapshot.tensors.items():
        assert result["tensors"][name] == f"{array.dtype.name}:{array.tobytes().hex()}", name
    assert result["scalars"] == pytest.approx(dict(snapshot.scalars), abs=0)


def test_discrete_ppo_probabilities_match_python_with_and_without_masks(cpp, tmp_path, make_server):
    config, params = client_config("127.0.0.1:1", params={"rollout_steps": 64, "minibatch_size": 32})
    history = trained_history(make_server, config, 3)
    updates, final = updates_for(history)
    obs = observations(64)
    masks = np.random.default_rng(3).random((64, 3)) < 0.6
    masks[np.arange(64), np.arange(64) % 3] = True  # at least one allowed action per row
    policy = LocalPolicy(final, "PPO", "tanh", config.action, np.random.default_rng(0))
    for mask_rows in (None, masks):
        result = probe(cpp, tmp_path, config, params, updates, obs, mask_rows)
        assert_same_tensors(result, final)
        for i, row in enumerate(result["rows"]):
            logits = policy.forward(obs[i]).astype(np.float64)
            assert_close_outputs(row["outputs"], logits)
            if mask_rows is not None:
                logits = np.where(mask_rows[i], logits, -np.inf)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            assert np.allclose(row["probabilities"], probs, rtol=0, atol=1e-6)
            assert mask_rows is None or mask_rows[i, row["index"]]
            assert row["logp"] == pytest.approx(np.log(probs[row["index"]]), abs=1e-6)


def test_gaussian_ppo_means_std_and_log_probs_match_python(cpp, tmp_path, make_server):
    box = ActionSpec(low=(-1.0, -2.0), high=(1.0, 2.0))
    config, params = client_config("127.0.0.1:1", action=box,
                                   params={"rollout_steps": 64, "minibatch_size": 32,
                                           "init_log_std": -0.5})
    history = trained_history(make_server, config, 3)
    updates, final = updates_for(history)
    obs = observations(32)
    result = probe(cpp, tmp_path, config, params, updates, obs, None)
    assert_same_tensors(result, final)
    policy = LocalPolicy(final, "PPO", "tanh", box, np.random.default_rng(0))
    std = np.exp(final.tensors["log_std"].astype(np.float64))
    assert np.allclose(result["std"], std, rtol=0, atol=1e-12)
    for i, row in enumerate(result["rows"]):
        mean = policy.forward(obs[i])
        assert_close_outputs(row["outputs"], mean)
        raw = np.asarray(row["raw"], np.float32)
        z = (raw - mean) / std  # policy.act's log-density of the sampled raw action
        logp = -float(np.log(std).sum()) - 0.5 * np.log(2 * np.pi) * 2 - 0.5 * float(z @ z)
        assert row["logp"] == pytest.approx(logp, abs=1e-5)
        assert np.array_equal(row["act"], np.clip(raw, box.low, box.high).astype(np.float32))


def test_dqn_q_values_match_python(cpp, tmp_path, make_server):
    config, params = client_config("127.0.0.1:1", algorithm="DQN",
                                   params={"learning_starts": 16, "train_every_steps": 1,
                                           "publish_every_updates": 8})
    history = trained_history(make_server, config, 3)
    updates, final = updates_for(history)
    obs = observations(32)
    result = probe(cpp, tmp_path, config, params, updates, obs, None)
    assert_same_tensors(result, final)
    policy = LocalPolicy(final, "DQN", "relu", config.action, np.random.default_rng(0))
    for i, row in enumerate(result["rows"]):
        assert_close_outputs(row["outputs"], policy.forward(obs[i]))


# -- same calls, same accounting ------------------------------------------------------------

class Drive:
    """iroko_drive as a subprocess: one command line in, one JSON line out."""

    def __init__(self, cpp: Path, cfg: Path) -> None:
        self.proc = subprocess.Popen([str(cpp / "iroko_drive"), str(cfg)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.ready = self._read()
        except BaseException:
            self.close()
            raise

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"iroko_drive exited {self.proc.wait(10)}: {self.proc.stderr.read()}")
        return json.loads(line)

    def __call__(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        if self.proc.wait(30) != 0:
            raise AssertionError(f"iroko_drive exited {self.proc.returncode}: {self.proc.stderr.read()}")
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def drives() -> Iterator[Callable[[Path, Path], Drive]]:
    started: list[Drive] = []

    def start(cpp: Path, cfg: Path) -> Drive:
        started.append(Drive(cpp, cfg))
        return started[-1]

    yield start
    for drive in started:
        if drive.proc.poll() is None:
            drive.close()


def python_episodes(agent: RemoteAgent, count: int, length: int, nan_last: bool = False) -> None:
    """What iroko_drive's ``episodes`` command does, with the Python client."""
    for _ in range(count):
        traj = None
        for t in range(length):
            traj, action = agent.request_for_action(
                traj, np.full(agent.config.observation_size, t / length, np.float32))
            action.update_reward(float("nan") if nan_last and t == length - 1 else 1.0)
            (agent.mark_end_of_trajectory if t == length - 1 else agent.add_to_trajectory)(traj, action)


def counts(stats: Any) -> dict:
    values = stats if isinstance(stats, dict) else stats.__dict__
    return {name: values[name] for name in STAT_COUNTS}


@pytest.mark.faults
def test_drop_and_buffer_accounting_matches_python(cpp, tmp_path, make_server, drives):
    server = make_server()
    config, params = client_config(server.address, params={"rollout_steps": 10**6},
                                   batch_size=100, flush_interval_s=60.0,
                                   max_buffered_trajectories=3)
    py = RemoteAgent(config.replace(client_id="py"))
    cc = drives(cpp, config_file(tmp_path / "c.json", config.replace(client_id="cc"), params))
    script = [("episodes", (10, 5)), ("flush", ()), ("nan", (2, 5)), ("flush", ()),
              ("episodes", (1, 4)), ("flush", ())]
    for name, args in script:
        if name == "episodes":
            python_episodes(py, *args)
            reply = cc(f"episodes {args[0]} {args[1]}")
        elif name == "nan":  # refused where it enters, by both clients: nothing reaches the server
            refused = "reward=nan: must be a finite number in [-1000000000.0, 1000000000.0]"
            with pytest.raises(MalformedMessage, match=re.escape(refused)):
                python_episodes(py, *args, nan_last=True)
            assert cc(f"episodes {args[0]} {args[1]} nan")["error"] == refused
            reply = cc("stats")
        else:
            assert py.flush(30)
            reply = cc("flush 30")
            assert reply["ok"]
        assert counts(reply["stats"]) == counts(py.stats()), (name, args)
        if name == "episodes" and args[0] == 10:  # 10 ended into a buffer of 3
            assert reply["stats"]["dropped_overflow"] == 7 and reply["stats"]["buffered"] == 3
    final = reply["stats"]
    assert final["dropped_rejected"] == 0 and final["last_error"] == py.stats().last_error == ""
    assert final["trajectories_sent"] == 4 and final["steps_sent"] == 19
    py.close()
    closed = cc("close 10")
    assert counts(closed["stats"]) == counts(py.stats())
    assert "the agent is closed" in cc("episodes 1 2")["error"]
    assert "the agent is closed" in cc("refresh")["error"]
    metrics = {m.client_id: m for m in server.metrics().learners}
    assert metrics["py"].steps_received == metrics["cc"].steps_received == 19


@pytest.mark.parametrize("action, flag", [(ActionSpec(n=3), "mask"),
                                          (ActionSpec(low=(-1.0, 0.0), high=(1.0, 5.0)), "")])
def test_masked_and_box_trajectories_are_accepted_by_the_server(cpp, tmp_path, make_server,
                                                               drives, action, flag):
    server = make_server()
    config, params = client_config(server.address, action=action, batch_size=2,
                                   params={"rollout_steps": 10**6})
    cc = drives(cpp, config_file(tmp_path / "c.json", config, params))
    assert "error" not in cc(f"episodes 3 5 {flag}")
    stats = cc("flush 10")["stats"]
    assert stats["trajectories_sent"] == 3 and stats["steps_sent"] == 15
    assert stats["dropped_rejected"] == 0 and stats["last_error"] == ""
    assert server.wait_idle(10)
    assert server.learner("c1").counters["trajectories_received"] == 3


@pytest.mark.faults
def test_server_gone_counts_the_same_drops_at_close(cpp, tmp_path, make_server, drives):
    server = make_server()
    config, params = client_config(server.address, params={"rollout_steps": 10**6},
                                   batch_size=100, flush_interval_s=60.0, backoff_initial_s=0.05)
    py = RemoteAgent(config.replace(client_id="py"))
    cc = drives(cpp, config_file(tmp_path / "c.json", config.replace(client_id="cc"), params))
    server.close(grace=0.1)
    python_episodes(py, 3, 4)
    cc("episodes 3 4")
    py.close(timeout=0.5)
    closed = cc("close 0.5")["stats"]
    assert counts(closed) == counts(py.stats())
    assert closed["dropped_at_close"] == 3 and closed["trajectories_sent"] == 0
    assert closed["send_failures"] >= 1 and closed["last_error"].startswith("UNAVAILABLE")


@pytest.mark.faults
def test_server_restarted_without_the_learner_is_re_initialised_and_gets_everything(
        cpp, tmp_path, make_server, drives, proxy):
    first = make_server(checkpoint_dir=None)
    proxy.backend = first.port
    config, params = client_config(proxy.address, params={"rollout_steps": 10**6},
                                   batch_size=2, backoff_initial_s=0.02, backoff_max_s=0.2)
    cc = drives(cpp, config_file(tmp_path / "c.json", config, params))
    cc("episodes 2 3")
    assert cc("flush 10")["stats"]["trajectories_sent"] == 2
    first.close(grace=0.1)
    proxy.cut()
    cc("episodes 3 3")  # acting needs no server
    second = make_server(checkpoint_dir=None)  # knows no learner: Report answers NOT_FOUND
    proxy.backend = second.port
    flushed = cc("flush 20")
    assert flushed["ok"], flushed
    stats = flushed["stats"]
    assert stats["trajectories_sent"] == 5 and stats["buffered"] == 0 and stats["send_failures"] >= 1
    assert stats["dropped_overflow"] == stats["dropped_rejected"] == 0
    assert second.wait_idle(10)
    assert second.learner("c1").counters["trajectories_received"] == 3


@pytest.mark.faults
def test_token_and_tls(cpp, tmp_path, make_server, drives):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = make_server(tls_cert_file=str(cert), tls_key_file=str(key), token="s3cret")
    config, params = client_config(server.address, connect_timeout_s=2.0, flush_interval_s=0.05)
    good = config.replace(tls_ca_file=str(cert), token="s3cret")
    cc = drives(cpp, config_file(tmp_path / "good.json", good, params))
    cc("episodes 2 3")
    assert cc("flush 10")["stats"]["trajectories_sent"] == 2
    for name, bad, expected in (("wrong-token", good.replace(token="nope"), "UNAUTHENTICATED"),
                                ("plaintext", config.replace(token="s3cret"), "UNAVAILABLE|DEADLINE")):
        done = subprocess.run([str(cpp / "iroko_drive"), str(config_file(tmp_path / f"{name}.json",
                                                                          bad, params))],
                              input="", capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert any(code in done.stderr for code in expected.split("|")), done.stderr


@pytest.mark.faults
def test_bad_config_file_is_refused_with_the_key_named(cpp, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"client_id": "x", "observation_size": 4, "action": {"n": 2},
                                "flush_intervall_s": 1}))
    done = subprocess.run([str(cpp / "iroko_drive"), str(path)], input="", capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1 and "did you mean 'flush_interval_s'?" in done.stderr


# -- the CartPole example -------------------------------------------------------------------

def test_cartpole_dynamics_match_gymnasium_step_for_step(cpp):
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    for episode in range(6):
        _, _ = env.reset(seed=episode)
        start = np.array(env.unwrapped.state, dtype=np.float64)
        expected, actions = [], []
        done = False
        while not done:
            x, x_dot, theta, theta_dot = env.unwrapped.state
            # Episodes 0-2: random actions; 3-5: a balancing rule that reaches the time limit.
            action = int(rng.integers(2)) if episode < 3 else int(theta + 0.5 * theta_dot > 0)
            _, reward, terminated, truncated, _ = env.step(action)
            actions.append(action)
            expected.append((*env.unwrapped.state, reward, terminated, truncated))
            done = terminated or truncated
        text = " ".join(repr(float(v)) for v in start) + "\n" + "\n".join(map(str, actions))
        done_run = subprocess.run([str(cpp / "cartpole_remote"), "--trace"], input=text,
                                  capture_output=True, text=True, timeout=30, check=True)
        got = [line.split() for line in done_run.stdout.splitlines()]
        assert len(got) == len(expected)
        for step, (row, want) in enumerate(zip(got, expected)):
            assert np.allclose([float(v) for v in row[:4]], want[:4], rtol=1e-12, atol=1e-14), step
            assert (float(row[4]), row[5] == "1", row[6] == "1") == want[4:], step
        if episode >= 3:
            assert len(actions) == 500 and expected[-1][-1]  # truncated by the time limit
    env.close()


def test_cartpole_example_trains_through_the_server(cpp, make_server):
    server = make_server()
    done = subprocess.run([str(cpp / "cartpole_remote"), "--address", server.address,
                           "--steps", "2048", "--rollout-steps", "512", "--seed", "0"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    stats = result["stats"]
    assert result["steps"] == 2048 and result["episodes"] > 0
    assert stats["trajectories_sent"] == stats["trajectories_ended"] and stats["buffered"] == 0
    assert stats["dropped_overflow"] == stats["dropped_rejected"] == stats["dropped_at_close"] == 0
    assert stats["version"] >= 4 and stats["full_models"] == 1  # later versions came as diffs
    metrics = server.metrics().learners[0]
    assert metrics.steps_received == 2048 and metrics.updates >= 3
    assert metrics.stale_dropped == 0
