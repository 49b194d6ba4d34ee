"""Policies the live cache tests load by file (``policies.py:name``), also into a sidecar process."""

from __future__ import annotations

from typing import Any


def keep_by_tokens(obs: Any) -> int:
    """Deterministic and stateless, with both answers: it survives a sidecar restart unchanged."""
    return int((int(obs[0]) + int(obs[1])) % 3 != 0)
