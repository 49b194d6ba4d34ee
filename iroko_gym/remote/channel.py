"""The client's gRPC channel: options shared with the server, calls, and error mapping.

Every failed call becomes a :class:`CallFailed` (a :class:`~iroko_gym.errors.RemoteError`)
carrying the status code; a connection that cannot be made says what failed — refused, name
not resolved, TLS handshake, bad CA — instead of a bare DEADLINE_EXCEEDED after the timeout.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc

from iroko_gym.errors import ConfigError, RemoteError
from iroko_gym.remote.config import ClientConfig
from iroko_gym.remote.security import channel_credentials, token_metadata
from iroko_gym.remote.stubs import pb2_grpc

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 10.0
# Transport trouble and backpressure: the call may succeed later as it is.
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED",
                       "UNKNOWN", "INTERNAL"})
_RECONNECT_MS = (("grpc.initial_reconnect_backoff_ms", 100),
                 ("grpc.min_reconnect_backoff_ms", 100),
                 ("grpc.max_reconnect_backoff_ms", 2000))


def message_options(max_bytes: int) -> list[tuple[str, int]]:
    """The message-size options that client and server both set."""
    return [("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes)]


def server_options(max_bytes: int) -> list[tuple[str, int]]:
    """Server options: the shared size limits, and no SO_REUSEPORT (a port in use is refused,
    never shared with another server)."""
    return [*message_options(max_bytes), ("grpc.so_reuseport", 0)]


class CallFailed(RemoteError):
    """A call failed with gRPC status ``code`` (a name such as ``"UNAVAILABLE"``)."""

    def __init__(self, message: str, code: str, details: str) -> None:
        super().__init__(message)
        self.code = code
        self.details = details

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    @property
    def too_large(self) -> bool:
        """The request exceeded a message-size limit (retrying it whole cannot help)."""
        return self.code == "RESOURCE_EXHAUSTED" and "larger than max" in self.details


def connect_failure(details: str) -> tuple[str, bool]:
    """``(what failed, final)`` for the details of an UNAVAILABLE; ``final`` when retrying
    within the connect timeout cannot help (a name that does not resolve, TLS)."""
    text = details.lower()
    if "connection refused" in text:
        return "connection refused (is the server running, on this port?)", False
    if "resolv" in text or "domain name not found" in text or "dns" in text:
        return "the host name does not resolve (check server_address)", True
    if "security handshaker" in text:
        return ("TLS could not start: tls_ca_file holds no usable CA certificate, or the "
                "server's certificate is not signed by it"), True
    if "handshake" in text or "ssl" in text or "tls" in text or "certificate" in text:
        return ("TLS handshake failed (is the server serving TLS, with a certificate that "
                "tls_ca_file trusts and that names this host?)"), True
    return f"unavailable: {details}", False


class Channel:
    """One gRPC channel to the server with the client's credentials and token."""

    def __init__(self, config: ClientConfig) -> None:
        self.address = config.server_address
        options = [*message_options(config.max_message_bytes), *_RECONNECT_MS]
        self._channel = (grpc.secure_channel(config.server_address,
                                             channel_credentials(config.tls_ca_file), options)
                         if config.tls_ca_file else
                         grpc.insecure_channel(config.server_address, options))
        self._stub = pb2_grpc.RemoteTrainerStub(self._channel)
        self._metadata = token_metadata(config.token)

    def call(self, method: str, request: Any, timeout: float = RPC_TIMEOUT_S) -> Any:
        """``method`` (Init, Report, GetModel, Metrics) now; raises :class:`CallFailed`."""
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            raise CallFailed(f"{method}: {code.name} from {self.address}: {details}",
                             code.name, details) from exc

    def connect(self, request: Any, timeout: float) -> Any:
        """Init, retried while the server cannot be reached, for up to ``timeout`` seconds.
        INVALID_ARGUMENT is raised as ConfigError; an unreachable server as RemoteError
        saying what failed."""
        start = time.monotonic()
        deadline = start + timeout
        delay = 0.05
        while True:
            left = deadline - time.monotonic()
            try:
                return self.call("Init", request, timeout=max(min(left, RPC_TIMEOUT_S), 0.05))
            except CallFailed as exc:
                if exc.code == "INVALID_ARGUMENT":
                    raise ConfigError(f"server refused: {exc.details}") from exc
                if exc.code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    raise
                what, final = (connect_failure(exc.details) if exc.code == "UNAVAILABLE" else
                               ("no answer (a firewall, or a server that does not speak gRPC?)",
                                False))
                if final or time.monotonic() + delay >= deadline:
                    raise RemoteError(
                        f"cannot reach the server at {self.address}: {what}; gave up after "
                        f"{time.monotonic() - start:.1f} s (connect_timeout_s={timeout})") from exc
                log.debug("connecting to %s: %s; retrying", self.address, what)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def close(self) -> None:
        self._channel.close()
