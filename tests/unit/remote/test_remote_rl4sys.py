"""An RL4Sys client config loads as it is; unknown keys are refused at once, unused ones named."""

from __future__ import annotations

import json
import re
import warnings

import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import ClientConfig, DQNConfig, PPOConfig
from iroko_gym.remote.rl4sys import (DQN_KEYS, PPO_KEYS, TOP_LEVEL, RL4SysConfigWarning,
                                     client_config_from_rl4sys, load_rl4sys_config)

LUNAR = {"client_id": "luna-landing", "algorithm_name": "PPO", "algorithm_parameters": {
    "batch_size": 512, "act_dim": 4, "traj_per_epoch": 256, "clip_ratio": 0.2, "gamma": 0.99,
    "lam": 0.95, "pi_lr": 3e-4, "vf_lr": 1e-3, "train_pi_iters": 80, "train_v_iters": 80,
    "input_size": 8}, "act_limit": 1.0, "max_traj_length": 1000, "type": "onpolicy",
    "train_server_address": "localhost:50051", "send_frequency": 10}


def test_the_issue_config_maps_every_key_and_names_the_unused_ones(tmp_path):
    path = tmp_path / "luna_conf.json"
    path.write_text(json.dumps(LUNAR))
    with pytest.warns(RL4SysConfigWarning) as caught:
        config = load_rl4sys_config(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    for key in ("traj_per_epoch", "vf_lr", "train_v_iters", "act_limit", "max_traj_length"):
        assert key in message
    assert config.client_id == "luna-landing" and config.algorithm == "PPO"
    assert config.observation_size == 8 and config.action.n == 4
    assert config.server_address == "localhost:50051"
    # The trap: RL4Sys's batch_size is a minibatch; send_frequency is trajectories per upload.
    assert config.batch_size == 10
    assert config.params == PPOConfig(minibatch_size=512, clip_coef=0.2, gamma=0.99,
                                      gae_lambda=0.95, learning_rate=3e-4, epochs=80)


def test_dqn_config_and_overrides():
    doc = {"client_id": "job", "algorithm_name": "DQN", "type": "offpolicy",
           "algorithm_parameters": {"batch_size": 32, "act_dim": 3, "input_size": 5,
                                    "buf_size": 1000, "q_lr": 5e-4, "epsilon": 0.9,
                                    "epsilon_min": 0.1, "train_update_freq": 2,
                                    "target_update_freq": 100, "seed": 3}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = client_config_from_rl4sys(doc, overrides={"learning_starts": 10})
    assert config.params == DQNConfig(minibatch_size=32, buffer_size=1000, learning_rate=5e-4,
                                      epsilon_start=0.9, epsilon_end=0.1, train_every_steps=2,
                                      target_update_interval=100, seed=3, learning_starts=10)
    assert config.action.n == 3 and config.observation_size == 5


def test_every_mapped_key_names_a_real_field():
    fields = set(ClientConfig.__dataclass_fields__) | {"action.n"}
    for table, params in ((TOP_LEVEL, None), (PPO_KEYS, PPOConfig), (DQN_KEYS, DQNConfig)):
        known = fields | (set(params.__dataclass_fields__) if params else set())
        for key, target in table.items():
            assert isinstance(target, tuple) or target in known, key


@pytest.mark.faults
def test_every_unknown_key_is_reported_at_once():
    doc = {**LUNAR, "sned_frequency": 3, "algorithm_parameters": {
        **LUNAR["algorithm_parameters"], "clip_ration": 0.1}}
    with pytest.raises(ConfigError) as err:
        client_config_from_rl4sys(doc)
    text = str(err.value)
    assert "'sned_frequency' (did you mean 'send_frequency'?)" in text
    assert "'clip_ration' (did you mean 'clip_ratio'?)" in text


@pytest.mark.faults
@pytest.mark.parametrize(("change", "message"), [
    ({"algorithm_name": "SAC"}, "algorithm_name='SAC'"),
    ({"algorithm_name": ["PPO"]}, "algorithm_name=['PPO']"),
    ({"algorithm_parameters": [1]}, "algorithm_parameters"),
    ({"algorithm_parameters": {**LUNAR["algorithm_parameters"], "act_dim": True}}, "act_dim=True"),
    ({"type": "offpolicy"}, "contradicts algorithm_name='PPO'"),
    ({"algorithm_parameters": {"input_size": 8}}, "no 'act_dim'"),
    ({"algorithm_parameters": {**LUNAR["algorithm_parameters"], "gamma": 2.0}}, "gamma=2.0"),
    ({"train_server_address": "nohost"}, "host:port"),
])
def test_bad_rl4sys_values_name_the_value(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RL4SysConfigWarning)
            client_config_from_rl4sys({**LUNAR, **change})


@pytest.mark.faults
def test_an_unhashable_algorithm_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown algorithm"):
        ClientConfig.from_mapping({"client_id": "x", "observation_size": 4, "action": {"n": 2},
                                   "algorithm": ["PPO"], "params": {"epochs": 1}})


@pytest.mark.faults
def test_rl4sys_names_in_our_config_get_hints_not_misleading_spellings():
    doc = {"client_id": "x", "observation_size": 4, "action": {"n": 2}, "send_frequency": 3,
           "params": {"input_size": 8, "pi_lr": 1e-3, "epohcs": 3}}
    with pytest.raises(ConfigError) as err:
        ClientConfig.from_mapping(doc)
    text = str(err.value)
    assert "minibatch_size'?" not in text
    assert "'input_size' (RL4Sys's name: use observation_size" in text
    assert "'send_frequency' (RL4Sys's name: use batch_size" in text
    assert "'epohcs' (did you mean 'epochs'?)" in text
    assert "iroko_gym.remote.rl4sys" in text


@pytest.mark.faults
def test_unreadable_rl4sys_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_rl4sys_config(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_rl4sys_config(tmp_path / "bad.json")
