"""Optional shared-token authentication and TLS for the remote service (both off by default).

The token travels as ``authorization: Bearer <token>`` metadata on every call and is compared
in constant time; without TLS it is visible on the wire, so use TLS beyond loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from iroko_gym.errors import ConfigError

_HEADER = "authorization"


def token_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata a client attaches to each call."""
    return ((_HEADER, f"Bearer {token}"),) if token else ()


class TokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without the shared token with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError("token is empty; give a non-empty shared token or none at all")
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or wrong token: set token in the client config")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[[Any], Any],
                          handler_call_details: grpc.HandlerCallDetails) -> Any:
        for key, value in handler_call_details.invocation_metadata or ():
            if key == _HEADER and hmac.compare_digest(str(value).encode(), self._expected):
                return continuation(handler_call_details)
        return self._deny


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plaintext_token_warning(host: str, token: str | None, tls: bool) -> str | None:
    """The warning due when a token would cross a network in clear text, else None."""
    if not token or tls or is_loopback(host):
        return None
    return (f"token authentication without TLS on {host}: the token travels in clear text and "
            "anyone on the path can read and replay it; give --tls-cert/--tls-key, or bind to "
            "127.0.0.1")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path!r}: {exc.strerror}") from exc


def server_credentials(cert_file: str, key_file: str) -> grpc.ServerCredentials:
    """TLS credentials from PEM certificate chain and private key files."""
    return grpc.ssl_server_credentials([(_read(key_file, "tls key"),
                                         _read(cert_file, "tls certificate"))])


def channel_credentials(ca_file: str) -> grpc.ChannelCredentials:
    """TLS credentials trusting the CA (or self-signed certificate) in ``ca_file``."""
    pem = _read(ca_file, "tls CA")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"tls_ca_file {ca_file!r} holds no PEM certificate (no '-----BEGIN "
                          "CERTIFICATE-----' line): give the server's CA or its self-signed "
                          "certificate")
    return grpc.ssl_channel_credentials(root_certificates=pem)
