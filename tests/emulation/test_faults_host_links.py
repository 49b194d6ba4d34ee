"""Fault: an env prefix that iproute2 could read as an interface index must not cost the host a link.

For a name that does not exist, iproute2 reads ``if<digits>…`` as an ifindex, so a teardown that
ran ``ip link del if777s1-eth1`` after the link had gone would delete the root namespace's link
with index 777.  Prefixes can no longer begin with ``if`` (unit-tested); here one is forced, to
show that the teardown itself never names a link that way.
"""

from __future__ import annotations

import subprocess

import gymnasium as gym
import numpy as np
import pytest
from pyroute2 import IPRoute

import iroko_gym  # noqa: F401
from iroko_gym.dc import registry

pytestmark = [pytest.mark.emulation, pytest.mark.faults]

DECOY_INDEX = 777
DECOY, DECOY_PEER = "zdecoy777", "zdecoy777p"


def _link_at(index: int) -> str | None:
    with IPRoute() as ipr:
        names = {link.get("index"): link.get("ifname") for link in ipr.get_links()}
    return names.get(index)


@pytest.fixture
def decoy():
    """A throwaway veth at root-namespace ifindex 777: what a stray ``if777…`` name would hit."""
    if _link_at(DECOY_INDEX) is not None:
        pytest.fail(f"ifindex {DECOY_INDEX} is taken on this machine ({_link_at(DECOY_INDEX)}); pick another")
    subprocess.run(["ip", "link", "add", "name", DECOY, "index", str(DECOY_INDEX), "type", "veth",
                    "peer", "name", DECOY_PEER], check=True)
    try:
        assert _link_at(DECOY_INDEX) == DECOY
        yield
    finally:
        assert not registry.delete_links([DECOY])


@pytest.fixture
def if_prefix(monkeypatch):
    monkeypatch.setattr(registry, "new_prefix", lambda: f"if{DECOY_INDEX}")


def test_delete_of_a_missing_if_name_leaves_that_index_alone(decoy):
    assert registry.delete_links([f"if{DECOY_INDEX}s1-eth1", f"if{DECOY_INDEX}"]) == []
    assert _link_at(DECOY_INDEX) == DECOY


@pytest.mark.parametrize("topology", ["dumbbell", "fattree"])
def test_env_with_an_if_prefix_keeps_the_link_at_that_index(decoy, if_prefix, topology, tmp_path):
    env = gym.make("dc-iroko-v0", topology=topology, output_dir=str(tmp_path), max_steps=2)
    try:
        _, info = env.reset(seed=0)
        assert info["prefix"] == f"if{DECOY_INDEX}"
        env.step(np.ones(env.action_space.shape, dtype=np.float32))
        env.reset(seed=1)
        assert _link_at(DECOY_INDEX) == DECOY
    finally:
        env.close()
    env.close()
    assert _link_at(DECOY_INDEX) == DECOY
    assert not (registry.RUN_DIR / f"if{DECOY_INDEX}.json").exists()
