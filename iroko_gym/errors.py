"""One exception hierarchy for the whole package.

Every error names the bad value and, where there is one, the fix.  Lower-level exceptions
(subprocess, netlink, gRPC, parquet) are translated with ``raise ... from`` so that the
original cause stays visible in tracebacks.
"""

from __future__ import annotations


class IrokoError(Exception):
    """Base class of every error raised on purpose by iroko_gym."""


class ConfigError(IrokoError, ValueError):
    """A configuration field, keyword argument or CLI flag has a bad value."""


class ActionError(IrokoError, ValueError):
    """An action passed to ``step()`` has the wrong shape or non-finite values."""


class PrivilegeError(IrokoError, PermissionError):
    """The operation needs root (network namespaces, links and qdiscs)."""


class DependencyError(IrokoError, RuntimeError):
    """A binary, kernel feature or Python module the operation needs is missing."""


class EmulationError(IrokoError, RuntimeError):
    """Building, driving or tearing down the emulated network failed."""


class TraceError(IrokoError, ValueError):
    """A trace or traffic file is malformed (names the column/row/value)."""


class RemoteError(IrokoError, RuntimeError):
    """The remote training service or its client failed."""
