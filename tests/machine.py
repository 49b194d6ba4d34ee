"""What the machine has now, for tests that check they left it as they found it."""

from __future__ import annotations

import subprocess


def links() -> set[str]:
    """Names of the root namespace's links."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def netns() -> set[str]:
    """Names of the network namespaces mounted under /run/netns."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}
