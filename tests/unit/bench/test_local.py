"""The local controller: per-host features, relative actions, shared-policy training and reloading."""

from __future__ import annotations

import dataclasses
import functools
import io

import gymnasium as gym
import numpy as np
import pytest
import torch

import iroko_gym  # noqa: F401
from iroko_gym.bench.config import PPO_DEFAULTS, BenchConfig
from iroko_gym.bench.local import FEATURES, QUEUE_TARGET, LocalControl, HostView, host_reward
from iroko_gym.bench.ppo import EpisodeCycle, LocalPolicy, load_policy, save_model, train
from iroko_gym.bench.runner import run_grid
from iroko_gym.bench.storage import ResultStore
from iroko_gym.dc.fake import FakeNetwork
from iroko_gym.dc.traffic.pattern import Flow, TrafficPattern
from iroko_gym.errors import ConfigError

# h1 -> h3 and h2 -> h3: h4 (and h3) send nothing.
TWO_TO_ONE = TrafficPattern("two-to-one", (Flow("h1", "h3"), Flow("h2", "h3")))


def _dumbbell():
    env = gym.make("dc-iroko-v0")
    env.unwrapped.current_pattern = TWO_TO_ONE
    return env


def _obs(env, values: dict[str, float], rates: list[float]) -> np.ndarray:
    layout = env.unwrapped.layout["observation"]
    obs = np.zeros(len(layout), dtype=np.float32)
    for name, value in values.items():
        obs[layout.index(name)] = value
    obs[-len(rates):] = rates
    return obs


def test_features_are_the_worst_port_on_each_hosts_path_and_its_own_sending():
    env = _dumbbell()
    view = HostView(env.unwrapped)
    obs = _obs(env, {
        "port s1-eth1 backlog": 0.4, "port s1-eth1 d_backlog": 0.1, "port s1-eth1 bw_tx": 0.9,  # s1 -> s2: every sender's path
        "port s2-eth2 backlog": 0.7, "port s2-eth2 drops": 0.2,  # towards h3: h1's and h2's paths only
        "port s2-eth3 backlog": 0.99,  # towards h4: nobody sends there
        "port s1-eth2 bw_rx": 0.6,  # what h1 sent
    }, [0.5, 0.25, 1.0, 1.0])
    got = view.features(obs)
    expect = {  # sends, queue, queue_trend, drops, busy, delivered, rate
        "h1": [1, 0.7, 0.1, 0.2, 0.9, 0.6, 0.5],
        "h2": [1, 0.7, 0.1, 0.2, 0.9, 0.0, 0.25],
        "h3": [0, 0, 0, 0, 0, 0, 1.0],  # sends nothing: no path, no signal
    }
    assert got.shape == (4, len(FEATURES))
    for i, host in enumerate(expect):
        assert got[i] == pytest.approx(expect[host]), host
    env.close()


def test_actions_scale_the_rate_in_force_within_the_box():
    env = _dumbbell()
    view = HostView(env.unwrapped)
    obs = _obs(env, {}, [0.5, 0.5, 0.06, 0.8])
    assert view.fractions(obs, np.array([1.0, -1.0, -1.0, 1.0])) == pytest.approx([1.0, 0.25, 0.05, 1.0])
    assert view.fractions(obs, np.array([7.0, -7.0, 0.0, 0.0]))[:2] == pytest.approx([1.0, 0.25])  # clipped to +-1
    env.close()


def test_a_hosts_own_reward_is_what_it_sent_priced_by_the_queue_on_its_path():
    env = _dumbbell()
    view = HostView(env.unwrapped)

    def rewards(queue: float) -> np.ndarray:
        # h1 and h2 share the queue towards h3; h1 sent most of what crossed it, h2 little
        obs = _obs(env, {"port s2-eth2 backlog": queue, "port s1-eth2 bw_rx": 0.6, "port s1-eth3 bw_rx": 0.05},
                   [1.0, 0.1, 1.0, 1.0])
        return host_reward(view.features(obs))[:2]

    assert rewards(0.0) == pytest.approx([0.6, 0.05])  # no queue: what each sent
    assert rewards(QUEUE_TARGET / 2) == pytest.approx([0.3, 0.025])
    assert rewards(QUEUE_TARGET) == pytest.approx([0.0, 0.0], abs=1e-6)  # at the target sending neither pays nor costs
    assert rewards(0.5) == pytest.approx([0.6 * (1 - 0.5 / QUEUE_TARGET), 0.05 * (1 - 0.5 / QUEUE_TARGET)])  # above, it costs
    env.close()


def test_a_state_model_without_the_needed_features_is_refused():
    env = gym.make("dc-iroko-v0", state_model=["backlog", "bw_tx"])
    with pytest.raises(ConfigError, match=r"missing: \['d_backlog', 'drops', 'bw_rx'\]"):
        LocalControl(env)
    env.close()


def _local_env(i: int, seed: int = 1):
    env = gym.make("dc-iroko-v0", network_factory=functools.partial(FakeNetwork, traffic_steps=None), max_steps=8,
                   pattern="incast")
    return EpisodeCycle(LocalControl(env), i, seed, [{"pattern": "incast"}, {"pattern": "stride"}])


def test_shared_policy_trains_on_senders_only_and_reloads_as_a_local_policy(tmp_path, monkeypatch):
    vec = gym.vector.SyncVectorEnv([lambda: _local_env(0)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    ingested = []
    from iroko_gym.remote import ppo as learner_module

    original = learner_module.PPO.ingest
    monkeypatch.setattr(learner_module.PPO, "ingest", lambda self, traj: ingested.append(traj) or original(self, traj))
    params = dataclasses.replace(PPO_DEFAULTS, rollout_steps=8, minibatch_size=4, seed=0)
    model, curve = train(vec, params, 16, [{"pattern": "incast"}, {"pattern": "stride"}])
    assert [c["pattern"] for c in curve] == ["incast", "stride"]
    assert ingested and all(t.observations.shape[1:] == (len(FEATURES),) for t in ingested)
    assert all(t.observations[:, 0].min() == 1.0 for t in ingested)  # only hosts that send
    # this incast's 2 senders (h1, h2 -> h3), then stride's 4: one 8-step trajectory each
    assert [len(t.rewards) for t in ingested] == [8] * 6
    path = save_model(model, tmp_path / "model.pt", "local")
    env = vec.envs[0]
    dc = env.unwrapped
    policy = load_policy(path, dc)
    assert isinstance(policy, LocalPolicy)
    raw, _ = dc.reset(seed=0)
    action = policy(raw)
    assert dc.action_space.contains(action) and np.array_equal(action, policy(raw))
    wide = gym.make("dc-iroko-v0", topology_params={"hosts_per_side": 3})  # a local policy fits any host count
    wide.unwrapped.current_pattern = TWO_TO_ONE
    assert load_policy(path, wide.unwrapped)(wide.observation_space.sample()).shape == (6,)
    vec.close()
    wide.close()


def _trained_rewards(monkeypatch, reward: str):
    vec = gym.vector.SyncVectorEnv([lambda: _local_env(0)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    seen, ingested = [], []
    from iroko_gym.remote import ppo as learner_module

    original = learner_module.PPO.ingest
    monkeypatch.setattr(learner_module.PPO, "ingest", lambda self, traj: ingested.append(traj) or original(self, traj))
    step = vec.step
    monkeypatch.setattr(vec, "step", lambda action: seen.append(out := step(action)) or out)
    params = dataclasses.replace(PPO_DEFAULTS, rollout_steps=8, minibatch_size=4, seed=0)
    _, curve = train(vec, params, 8, [{"pattern": "incast"}], reward=reward)
    vec.close()
    return seen, ingested, curve


def test_per_host_rewards_train_each_sender_on_its_own_view_after_the_step(monkeypatch):
    from iroko_gym.bench import ppo

    # the fake network's queues are full and its hosts deliver nothing, so every host_reward is -2:
    # a reward that tells the hosts and the steps apart shows which row and step each one comes from
    rate = FEATURES.index("rate")
    distinct = lambda f: np.asarray(f)[..., rate] * 10 + np.arange(np.asarray(f).shape[-2])  # noqa: E731
    monkeypatch.setattr(ppo, "host_reward", distinct)
    seen, ingested, curve = _trained_rewards(monkeypatch, "host")
    finals = [info["final_obs"][0] if term[0] or trunc[0] else obs[0] for obs, _, term, trunc, info in seen]
    assert len(ingested) == 2  # incast's two senders, h1 and h2, one 8-step trajectory each
    for host, traj in enumerate(ingested):
        assert traj.rewards == pytest.approx([distinct(f)[host] for f in finals])
    assert not np.allclose(ingested[0].rewards, [r for _, r, *_ in seen])  # not the env's reward
    assert curve[0]["return"] == pytest.approx(sum(float(r[0]) for _, r, *_ in seen))  # the curve stays the env's


def test_the_env_reward_is_shared_by_the_senders(monkeypatch):
    seen, ingested, _ = _trained_rewards(monkeypatch, "env")
    assert [list(t.rewards) for t in ingested] == [pytest.approx([float(r[0]) for _, r, *_ in seen])] * 2


def test_a_per_host_reward_without_the_local_control_is_refused():
    with pytest.raises(ConfigError, match="--ppo-reward host.*'central'"):
        BenchConfig(ppo_control="central", ppo_reward="host")
    with pytest.raises(ConfigError, match="ppo-reward.*'hots'.*host"):
        BenchConfig(ppo_reward="hots")
    env = gym.make("dc-iroko-v0", network_factory=functools.partial(FakeNetwork, traffic_steps=None), max_steps=4)
    vec = gym.vector.SyncVectorEnv([lambda: env], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ConfigError, match="per-host reward needs the local control"):
        train(vec, PPO_DEFAULTS, 4, [{}], reward="host")
    with pytest.raises(ConfigError, match="reward.*'shared'"):
        train(vec, PPO_DEFAULTS, 4, [{}], reward="shared")
    vec.close()


def test_grid_trains_and_evaluates_the_local_control(tmp_path, fake_factory):
    cfg = BenchConfig(out=str(tmp_path), agents=("ppo",), patterns=("incast", "hotspot"), train_patterns=("incast",),
                      seeds=1, episodes=1, steps=5, workload="long", ppo_steps=10, ppo_rollout_steps=5,
                      ppo_minibatch_size=2, ppo_control="local", plot=False)
    assert run_grid(cfg, fake_factory, stream=io.StringIO()) == {"completed": 3, "failed": 0, "skipped": 0}
    store = ResultStore(tmp_path)
    model = torch.load(store.training_dir("ppo__dumbbell__tcp__s0") / "model.pt", weights_only=True)
    assert model["control"] == "local" and model["obs_dim"] == len(FEATURES)
    assert [m["status"] for m in store.runs()] == ["completed", "completed"]


def test_an_unknown_control_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="ppo-control.*'centrel'.*central"):
        BenchConfig(ppo_control="centrel")
