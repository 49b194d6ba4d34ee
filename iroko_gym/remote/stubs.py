"""Generated gRPC stubs for ``remote.proto``, built on first import.

The stubs are never committed: ``grpc_tools.protoc`` writes them into a cache directory keyed
by the hash of the proto and of the protoc/protobuf versions, so that an edited proto or an
upgraded toolchain regenerates them and ``pip install -e .`` and ``pip install .`` behave alike.
The cache directory is appended to this package's ``__path__``, so the modules import as
``iroko_gym.remote.remote_pb2`` and ``iroko_gym.remote.remote_pb2_grpc``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

from iroko_gym.errors import DependencyError, RemoteError

PROTO = Path(__file__).with_name("remote.proto")
_PROTO_REL = "iroko_gym/remote/remote.proto"


def _cache_root() -> Path:
    """Where generated stubs live: $IROKO_GYM_CACHE, else $XDG_CACHE_HOME or ~/.cache."""
    explicit = os.environ.get("IROKO_GYM_CACHE")
    if explicit:
        return Path(explicit) / "protoc"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iroko_gym" / "protoc"


def _key(proto: bytes) -> str:
    import google.protobuf
    import grpc_tools

    versions = f"{google.protobuf.__version__}|{getattr(grpc_tools, '__version__', '')}"
    with contextlib.suppress(PackageNotFoundError):  # a source checkout may lack metadata
        versions += "|" + version("grpcio-tools")
    return hashlib.sha256(proto + versions.encode()).hexdigest()[:20]


def _generate(target: Path) -> None:
    """Run protoc into a scratch directory beside ``target`` and move it into place."""
    from grpc_tools import protoc

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".gen-", dir=target.parent))
    try:
        src = scratch / "src"
        (src / "iroko_gym" / "remote").mkdir(parents=True)
        shutil.copyfile(PROTO, src / _PROTO_REL)
        out = scratch / "out"
        out.mkdir()
        include = str(Path(protoc.__file__).parent / "_proto")
        argv = ["protoc", f"-I{src}", f"-I{include}", f"--python_out={out}",
                f"--grpc_python_out={out}", str(src / _PROTO_REL)]
        if protoc.main(argv) != 0:
            raise RemoteError(f"protoc failed on {PROTO}; run: {' '.join(argv)}")
        try:
            os.replace(out / "iroko_gym" / "remote", target)
        except OSError:
            if not (target / "remote_pb2_grpc.py").exists():  # lost a race only if it exists
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _stub_dir() -> Path:
    proto = PROTO.read_bytes()
    key = _key(proto)
    for root in (_cache_root(), Path(tempfile.gettempdir()) / f"iroko_gym-{os.getuid()}"):
        target = root / key
        if (target / "remote_pb2_grpc.py").exists():
            return target
        try:
            _generate(target)
            return target
        except PermissionError:
            continue
    raise RemoteError(f"cannot write generated stubs for {PROTO}; set IROKO_GYM_CACHE to a "
                      "writable directory")


def load() -> tuple[ModuleType, ModuleType]:
    """Return ``(remote_pb2, remote_pb2_grpc)``, generating them if needed."""
    try:
        import grpc  # noqa: F401
        import grpc_tools  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "the remote service needs grpcio and grpcio-tools: pip install 'iroko_gym[remote]'"
        ) from exc
    package = importlib.import_module("iroko_gym.remote")
    directory = str(_stub_dir())
    if directory not in package.__path__:
        package.__path__.append(directory)
    return (importlib.import_module("iroko_gym.remote.remote_pb2"),
            importlib.import_module("iroko_gym.remote.remote_pb2_grpc"))


pb2, pb2_grpc = load()
