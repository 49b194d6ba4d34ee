"""The AIMD rule and its congestion signal on hand-made observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.bench.agents import AimdRule, aimd_agent, host_congestion, host_paths, port_feature_index
from iroko_gym.dc.traffic.patterns import generate_pattern
from iroko_gym.topologies import make_topology


def test_rule_backs_off_multiplicatively_and_grows_additively():
    rule = AimdRule(alpha=0.1, beta=0.5, target=0.2, min_fraction=0.05)
    rates = np.array([0.8, 0.8, 0.08, 0.95])
    congestion = np.array([0.5, 0.1, 0.9, 0.0])
    assert rule.update(rates, congestion) == pytest.approx([0.4, 0.9, 0.05, 1.0])


def test_paths_are_the_ports_on_shortest_paths_to_the_destinations():
    topo = make_topology("dumbbell")  # ports: s1-eth1 (->s2), s1-eth2 (->h1), s1-eth3 (->h2), s2-eth1 (->s1), ...
    names = [f"{p.local_intf}->{p.peer}" for p in topo.ports]
    paths = host_paths(topo, {"h1": {"h3"}, "h2": {"h3", "h4"}, "h3": {"h4"}})
    assert [names[i] for i in paths[0]] == ["s1-eth1->s2", "s2-eth2->h3"]
    assert [names[i] for i in paths[1]] == ["s1-eth1->s2", "s2-eth2->h3", "s2-eth3->h4"]
    assert [names[i] for i in paths[2]] == ["s2-eth3->h4"]  # same side: never the bottleneck
    assert paths[3].size == 0  # sends nothing


def test_fat_tree_paths_are_the_ecmp_set():
    topo = make_topology("fattree", k=4)
    ports = topo.ports
    src, same_edge, same_pod, other_pod = (h.name for h in topo.hosts[:3] + topo.hosts[-1:])
    assert [ports[i].peer for i in topo.path_ports(src, same_edge)] == [same_edge]
    # up to both aggregation switches of the pod, down to the neighbour edge switch
    assert len(topo.path_ports(src, same_pod)) == 2 + 2 + 1
    # edge -> 2 aggs -> 4 cores -> the destination pod's 2 aggs -> its edge -> the host
    cross = [ports[i] for i in topo.path_ports(src, other_pod)]
    assert len(cross) == 2 + 4 + 4 + 2 + 1
    assert len({p.switch for p in cross}) == 1 + 2 + 4 + 2 + 1
    assert topo.host_port(other_pod) in cross
    assert not {p.peer for p in cross} & {src, topo.host_port(src).switch}  # nothing back up
    assert len(topo.ports) == 80  # 64 between switches, 16 towards hosts


def test_congestion_is_worst_port_on_the_path_and_drops_count_as_full():
    obs = np.array([0.1, 0.0, 0.7, 0.0, 0.3, 0.0])  # (backlog, drops) for 3 ports
    backlog, drops = np.array([0, 2, 4]), np.array([1, 3, 5])
    paths = [np.array([0]), np.array([0, 1]), np.array([], dtype=np.int64)]
    assert host_congestion(obs, backlog, drops, paths) == pytest.approx([0.1, 0.7, 0.0])
    obs[1] = 0.01
    assert host_congestion(obs, backlog, drops, paths)[0] == 1.0


def test_agent_on_env_layout_reads_rates_in_force():
    env = gym.make("dc-iroko-v0", pattern="incast")
    dc = env.unwrapped
    dc.current_pattern = generate_pattern("incast", dc.topology.hosts, seed=0)
    layout = dc.layout["observation"]
    backlog = port_feature_index(layout, "backlog")
    obs = np.zeros(env.observation_space.shape, dtype=np.float32)
    obs[-4:] = [0.5, 0.5, 0.5, 0.5]
    calm = aimd_agent(dc)(obs)
    assert calm == pytest.approx([0.55] * 4)
    obs[backlog[0]] = 0.9  # s1-eth1, the bottleneck towards s2: on both senders' paths (h1, h2 -> h3)
    assert aimd_agent(dc)(obs) == pytest.approx([0.25, 0.25, 0.55, 0.55])
    env.close()
