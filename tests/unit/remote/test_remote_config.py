"""Client config files and algorithm parameters are validated where they enter."""

from __future__ import annotations

import json
import re

import pytest

from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import (
    ActionSpec,
    ClientConfig,
    DQNConfig,
    PPOConfig,
    algorithm_params,
    load_client_config,
    spaces_from_gym,
)


def test_yaml_and_json_files_load_to_the_same_config(tmp_path):
    doc = {"client_id": "cache-1", "algorithm": "DQN", "observation_size": 7,
           "action": {"n": 2}, "server_address": "127.0.0.1:50051", "batch_size": 16,
           "params": {"hidden_sizes": [32, 32], "epsilon_decay_steps": 500}}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    yaml = pytest.importorskip("yaml")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    a, b = load_client_config(tmp_path / "c.json"), load_client_config(tmp_path / "c.yaml")
    assert a == b
    assert a.params == DQNConfig(hidden_sizes=(32, 32), epsilon_decay_steps=500)
    assert a.action.discrete and a.action.size == 2


@pytest.mark.parametrize(("doc", "message"), [
    ({"client_id": "x", "observation_size": 4, "action": {"n": 2}, "batch_sise": 3},
     "unknown client config key(s) 'batch_sise' (did you mean 'batch_size'?)"),
    ({"client_id": "x", "observation_size": 4, "action": {"n": 2}, "algorithm": "SAC"},
     "unknown algorithm 'SAC'"),
    ({"client_id": "x", "observation_size": 4, "action": {"n": 2}, "params": {"epochs": 0}},
     "epochs=0"),
    ({"client_id": "", "observation_size": 4, "action": {"n": 2}}, "client_id=''"),
    ({"client_id": "x", "observation_size": 4, "action": {"low": [0.0], "high": [0.0]}},
     "low < high"),
    ({"client_id": "x", "observation_size": 4, "algorithm": "DQN",
      "action": {"low": [0.0], "high": [1.0]}}, "DQN needs a discrete action"),
    ({"client_id": "x", "observation_size": 4, "action": {"n": 2}, "server_address": "nohost"},
     "host:port"),
])
def test_bad_client_configs_name_the_value(doc, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ClientConfig.from_mapping(doc)


def test_missing_and_unparsable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_client_config(tmp_path / "absent.yaml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_client_config(tmp_path / "bad.json")


def test_algorithm_params_validate_and_suggest():
    assert algorithm_params("PPO", {"clip_coef": 0.1}) == PPOConfig(clip_coef=0.1)
    with pytest.raises(ConfigError, match="did you mean 'target_kl'"):
        algorithm_params("PPO", {"target_kll": 0.1})
    with pytest.raises(ConfigError, match="tau=0"):
        DQNConfig(tau=0)


def test_epsilon_schedule_is_linear_then_flat():
    params = DQNConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
    assert params.epsilon(0) == 1.0
    assert params.epsilon(50) == pytest.approx(0.55)
    assert params.epsilon(100) == params.epsilon(10_000) == pytest.approx(0.1)


def test_spaces_from_gym():
    from gymnasium import spaces

    size, action = spaces_from_gym(spaces.Box(0, 1, (2, 3)), spaces.Discrete(4))
    assert size == 6 and action == ActionSpec(n=4)
    size, action = spaces_from_gym(spaces.Box(0, 1, (3,)), spaces.Box(0.1, 1.0, (2,)))
    assert action.low == pytest.approx((0.1, 0.1)) and action.high == (1.0, 1.0)
    with pytest.raises(ConfigError, match="Discrete or a 1-D Box"):
        spaces_from_gym(spaces.Box(0, 1, (3,)), spaces.MultiBinary(3))
