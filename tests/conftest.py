"""Shared test setup: emulation tests need root + Mininet and must leave the machine as found; the built iroko-tm."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tests import machine

_SESSION_TMP = pytest.StashKey[tuple[str, "str | None"]]()


def _emulation_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, links, qdiscs)"
    if shutil.which("mnexec") is None:
        return "needs Mininet (run ./install.sh)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Every temporary file of the session goes under one directory, removed at the end: the
    flow records of envs built without an ``output_dir`` (kept on purpose for users), Ray's
    session directories and pytest's own ``tmp_path`` (``--basetemp DIR`` keeps those for
    debugging). Child processes inherit ``TMPDIR``. The name is short because Ray puts Unix
    sockets under it."""
    root = tempfile.mkdtemp(prefix="irk-")
    config.stash[_SESSION_TMP] = (root, os.environ.get("TMPDIR"))
    os.environ["TMPDIR"] = root
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_unconfigure(config: pytest.Config) -> None:
    root, before = config.stash[_SESSION_TMP]
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
    shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _emulation_unavailable()
    if reason is None:
        return
    if os.environ.get("IROKO_REQUIRE_EMULATION") == "1":
        raise pytest.UsageError(f"IROKO_REQUIRE_EMULATION=1 but emulation tests cannot run: {reason}")
    for item in items:
        if "emulation" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))




@pytest.fixture(autouse=True)
def _machine_left_as_found(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """After every emulation test: nothing the test's envs created may remain, nothing else removed.

    Judged by the prefixes the test's envs claimed (so that envs of other processes on the same
    machine are neither blamed nor touched), plus any new network namespace.
    """
    if "emulation" not in request.keywords or _emulation_unavailable():
        yield
        return
    from iroko_gym.dc import registry
    from iroko_gym.dc.backends import base as backend

    claimed: list[str] = []

    def claim_and_remember():
        own = registry.claim_prefix()
        claimed.append(own.prefix)
        return own

    monkeypatch.setattr(backend, "claim_prefix", claim_and_remember)
    netns, links_before = machine.netns(), machine.links()
    others = tuple(path.stem for path in registry.RUN_DIR.glob("i*.json"))  # live envs of other processes
    yield
    # Links that existed before the test and are gone; another process's env may close meanwhile.
    removed = sorted(n for n in links_before - machine.links() if not (others and n.startswith(others)))
    records = [registry.RUN_DIR / f"{p}.json" for p in claimed if (registry.RUN_DIR / f"{p}.json").exists()]
    links = sorted(n for n in machine.links() if any(n.startswith(p) for p in claimed))
    new_netns = sorted(machine.netns() - netns)
    for path in records:  # clean up so later tests start from a clean machine
        registry.Ownership.load(path).remove_all()
    if records or links or new_netns:
        pytest.fail(f"test left behind links {links}, netns {new_netns}, records {[str(r) for r in records]}")
    if removed:
        pytest.fail(f"test removed links it did not create: {removed}")


@pytest.fixture(scope="session")
def tm_binary() -> Path:
    """Build iroko-tm (incrementally) and return its path; a failed build fails the test."""
    tm_dir = Path(__file__).resolve().parents[1] / "traffic_managers"
    build = subprocess.run(["make", "-C", str(tm_dir)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"make -C traffic_managers failed:\n{build.stdout}\n{build.stderr}")
    return tm_dir / "iroko-tm"
