"""What every backend's ping shares: its answers, its time limit, and short reasons for a
cloud that did not answer. A ping never raises for an unreachable cloud: what went wrong is
its answer.

The clients' sockets are green under the service's monkey patching, so a slow or silent
cloud holds only the green thread of its own RPC (TIMEOUT seconds at most), never the others.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from shared.contracts.rpc import PingResult
from shared.dockerengine import CloudUnusable

if TYPE_CHECKING:
    from docker.errors import APIError

TIMEOUT = 3  # seconds for a cloud to connect and answer
_MAX_MESSAGE = 200


def _error(module: str, name: str) -> type[BaseException] | tuple[()]:
    """A client library's exception class, only once the library is loaded: before that none
    of its errors can have been raised, and the cloud service need not load the Docker SDK
    and requests (5 MB) to start (docs/architecture.md "Memory")."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name) if loaded is not None else ()


def ok(version: str) -> PingResult:
    return {"status": "ok", "version": version}


def error(message: str) -> PingResult:
    return {"status": "error", "message": message}


def reason(exc: BaseException) -> str:
    """A short reason for a failed ping, from the innermost cause that tells one."""
    for cause in reversed(list(_chain(exc))):
        if isinstance(cause, CloudUnusable):
            return str(cause)
        if isinstance(cause, _error("docker.errors", "TLSParameterError")):
            return f"TLS: {str(cause).split('. ')[0]} (under certPath)"
        if isinstance(cause, (TimeoutError, _error("requests.exceptions", "Timeout"))):
            return f"no answer within {TIMEOUT} s"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the host (does it expect TLS?)"
        if isinstance(cause, FileNotFoundError):
            return "no such socket"
        if isinstance(cause, PermissionError):
            return "permission denied"
        if isinstance(cause, socket.gaierror):
            return "cannot resolve the host name"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: the engine's certificate is not trusted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            if cause.reason == "WRONG_VERSION_NUMBER":
                return "TLS: the host does not speak TLS"
            return f"TLS: {cause.reason or cause}"
        if isinstance(cause, _error("docker.errors", "APIError")):
            api = cast("APIError", cause)
            said = api.response.reason if api.response is not None else ""
            return shorten(f"HTTP {api.status_code}: {api.explanation or said}")
        if isinstance(
            cause, (json.JSONDecodeError, _error("requests.exceptions", "JSONDecodeError"))
        ):
            return "the answer is not a Docker engine's"
    return shorten(str(exc) or type(exc).__name__)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def shorten(text: str) -> str:
    text = text.removeprefix("Error while fetching server API version: ")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
