"""Missing binaries and missing root are reported before anything is built."""

from __future__ import annotations

import gymnasium as gym
import pytest

import iroko_gym  # noqa: F401
from iroko_gym.errors import DependencyError, PrivilegeError


def test_missing_goben_names_the_install_step(monkeypatch, tmp_path):
    monkeypatch.delenv("IROKO_GOBEN", raising=False)
    monkeypatch.setattr("iroko_gym.dc.traffic.goben._repo_binary", lambda: tmp_path / "goben")
    monkeypatch.setenv("PATH", str(tmp_path) + ":/usr/bin:/bin")
    env = gym.make("dc-iroko-v0")
    with pytest.raises(DependencyError, match="goben.*install.sh"):
        env.reset(seed=0)
    env.close()


def test_missing_traffic_manager_names_the_install_step(monkeypatch, tmp_path):
    monkeypatch.delenv("IROKO_TM", raising=False)
    monkeypatch.setattr("iroko_gym.dc.traffic_manager._REPO_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path) + ":/usr/bin:/bin")
    env = gym.make("dc-iroko-v0")
    with pytest.raises(DependencyError, match="install.sh"):
        env.reset(seed=0)
    env.close()


def test_missing_mininet_names_the_install_step(monkeypatch):
    monkeypatch.setattr("iroko_gym.dc.backends.base.shutil.which", lambda name: None)
    env = gym.make("dc-iroko-v0")
    with pytest.raises(DependencyError, match="mnexec.*install.sh"):
        env.reset(seed=0)
    env.close()


def test_not_root_raises_privilege_error_with_the_fix(monkeypatch):
    monkeypatch.setattr("iroko_gym.dc.backends.base.os.geteuid", lambda: 1000)
    env = gym.make("dc-iroko-v0")
    with pytest.raises(PrivilegeError, match="sudo -E"):
        env.reset(seed=0)
    env.close()
