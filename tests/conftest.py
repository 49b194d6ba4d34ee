"""Shared test setup: emulation tests need root + Mininet and must leave the machine as found."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _emulation_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, links, qdiscs)"
    if shutil.which("mnexec") is None:
        return "needs Mininet (run ./install.sh)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _emulation_unavailable()
    if reason is None:
        return
    if os.environ.get("IROKO_REQUIRE_EMULATION") == "1":
        raise pytest.UsageError(f"IROKO_REQUIRE_EMULATION=1 but emulation tests cannot run: {reason}")
    for item in items:
        if "emulation" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture(autouse=True)
def _machine_left_as_found(request: pytest.FixtureRequest):
    """After every emulation test: no new links, namespaces or env records may remain."""
    if "emulation" not in request.keywords or _emulation_unavailable():
        yield
        return
    from iroko_gym.dc.registry import RUN_DIR

    links, netns = _links(), _netns()
    records = set(RUN_DIR.glob("*.json")) if RUN_DIR.is_dir() else set()
    yield
    new_records = (set(RUN_DIR.glob("*.json")) if RUN_DIR.is_dir() else set()) - records
    new_links, new_netns = _links() - links, _netns() - netns
    if new_records or new_links or new_netns:
        from iroko_gym.dc.registry import Ownership

        for path in new_records:  # clean up so later tests start from a clean machine
            Ownership.load(path).remove_all()
        pytest.fail(f"test left behind links {sorted(new_links)}, netns {sorted(new_netns)}, records {sorted(map(str, new_records))}")
