"""Grid expansion and the CLI config (flags, --quick, comma lists, the implicit 'run')."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from iroko_gym.bench import cli
from iroko_gym.bench.config import PAPER, PPO_DEFAULTS, QUICK, BenchConfig, add_arguments, config_from_args
from iroko_gym.bench.grid import expand_grid, training_jobs
from iroko_gym.errors import ConfigError
from iroko_gym.remote.config import PPOConfig


def parse(*argv: str) -> BenchConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_grid_is_the_full_product_in_seed_major_order():
    cfg = BenchConfig(agents=("tcp", "aimd"), topo=("dumbbell", "nonblock"), patterns=("incast", "stride", "hotspot"),
                      train_patterns=("incast",), transports=("tcp", "udp"), seeds=2)
    runs = expand_grid(cfg)
    assert len(runs) == 2 * 2 * 3 * 2 * 2
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.seed for r in runs[: len(runs) // 2]] == [0] * (len(runs) // 2)
    assert {r.pattern for r in runs if not r.held_out} == {"incast"}
    assert runs[0].run_id == "tcp__dumbbell__incast__tcp__s0" and not runs[0].rate_control
    assert runs[1].agent == "aimd" and runs[1].rate_control


def test_tcp_cc_agents_and_default_cc():
    runs = expand_grid(BenchConfig(agents=("tcp", "tcp-bbr", "fair"), patterns=("incast",), seeds=1, cc="reno"))
    assert [(r.agent, r.cc, r.rate_control) for r in runs] == [("tcp", "reno", False), ("tcp-bbr", "bbr", False),
                                                               ("fair", "reno", True)]


def test_unknown_or_repeated_agent_is_refused():
    with pytest.raises(ConfigError, match="unknown agent 'dqn'"):
        expand_grid(BenchConfig(agents=("tcp", "dqn")))
    with pytest.raises(ConfigError, match="twice"):
        expand_grid(BenchConfig(agents=("fair", "fair")))


def test_training_jobs_only_for_ppo_without_load():
    cfg = BenchConfig(agents=("fair", "ppo"), topo=("dumbbell", "fattree"), seeds=3)
    assert [j.model_id for j in training_jobs(cfg)][:2] == ["ppo__dumbbell__tcp__s0", "ppo__fattree__tcp__s0"]
    assert len(training_jobs(cfg)) == 6
    assert training_jobs(BenchConfig(agents=("ppo",), load_model="m.pt")) == []
    assert training_jobs(BenchConfig(agents=("fair",))) == []


def test_flags_override_quick_which_overrides_defaults():
    cfg = parse("--quick", "--agents", "tcp, aimd", "--seeds", "3", "--topo", "dumbbell,fattree", "--load", "m.pt")
    assert cfg.agents == ("tcp", "aimd") and cfg.seeds == 3 and cfg.topo == ("dumbbell", "fattree")
    assert cfg.steps == QUICK["steps"] and cfg.load_model == "m.pt"
    assert parse().steps == BenchConfig().steps
    assert parse("--no-plot").plot is False


def test_bad_values_are_config_errors():
    with pytest.raises(ConfigError, match="--seeds"):
        BenchConfig(seeds=0)
    with pytest.raises(ConfigError, match="not JSON"):
        BenchConfig(topo_params="{k: 4}")


def test_topology_params_shared_or_per_topology():
    assert BenchConfig(topo_params='{"queue_ms": 20}').params_for("dumbbell") == {"queue_ms": 20}
    per = BenchConfig(topo_params='{"fattree": {"k": 4}, "queue_ms": 20}')
    assert per.params_for("fattree") == {"k": 4}
    assert per.params_for("dumbbell") == {"queue_ms": 20}


def test_cli_without_subcommand_means_run(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "_run", lambda cfg: seen.setdefault("cfg", cfg) and 0)
    cli.main(["--quick", "--agents", "fair"])
    assert seen["cfg"].agents == ("fair",) and seen["cfg"].quick


def test_ppo_flags_are_the_learners_own_names():
    names = {f.name for f in dataclasses.fields(PPOConfig)}
    ppo_fields = [f.name for f in dataclasses.fields(BenchConfig) if f.name.startswith("ppo_") and f.name not in ("ppo_steps", "ppo_control", "ppo_reward")]
    assert ppo_fields and all(name[len("ppo_"):] in names for name in ppo_fields)
    cfg = parse("--ppo-learning-rate", "0.001", "--ppo-rollout-steps", "50", "--ppo-minibatch-size", "5")
    params = cfg.ppo_params(seed=3)
    assert (params.learning_rate, params.rollout_steps, params.minibatch_size, params.seed) == (0.001, 50, 5, 3)
    assert dataclasses.replace(params, learning_rate=PPO_DEFAULTS.learning_rate, rollout_steps=PPO_DEFAULTS.rollout_steps,
                               minibatch_size=PPO_DEFAULTS.minibatch_size, seed=0) == PPO_DEFAULTS
    quick = parse("--quick").ppo_params(0)
    assert (quick.rollout_steps, quick.minibatch_size) == (40, 10)  # rollout / 4, as before the rename


@pytest.mark.faults
@pytest.mark.parametrize(("kwargs", "named"), [
    ({"ppo_learning_rate": -1.0}, "learning_rate=-1.0"),
    ({"ppo_minibatch_size": 0}, "minibatch_size=0"),
    ({"seeds": True}, "--seeds=True"),
    ({"resume": "no"}, "--resume='no'"),
    ({"offered_load": float("nan")}, "--offered-load=nan"),
])
def test_bad_grid_values_name_the_field(kwargs, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        BenchConfig(**kwargs)


def test_paper_preset_is_issue_12s_grid_with_five_seeds_and_flags_still_win():
    cfg = parse("--paper")
    assert (cfg.seeds, cfg.steps, cfg.step_interval_ms, cfg.capacity_mbps, cfg.ppo_steps) == (5, 300, 20.0, 100.0, 15_000)
    assert cfg.agents == ("tcp", "fair", "aimd", "ppo") and set(cfg.patterns) - set(cfg.train_patterns) == {"hotspot", "bijection"}
    assert (cfg.ppo_control, cfg.ppo_reward, cfg.reward) == ("local", "host", "utilisation_queue")
    assert parse("--paper", "--seeds", "3").seeds == 3 and PAPER["seeds"] == 5
    with pytest.raises(ConfigError, match="two presets"):
        parse("--paper", "--quick")
