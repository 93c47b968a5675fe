"""Ping a cloud: is it there, and what does it run? Never raises for an unreachable cloud.

Local answers for this host. Docker asks the engine's `/version` through the docker SDK; the
SDK's sockets are green under the service's monkey patching, so a slow or silent engine
holds only the green thread of its own RPC (TIMEOUT seconds at most), never the others.
Kubernetes asks the API server's `/version` with the cloud's own auth (the client's sockets
are green too).
"""

from __future__ import annotations

import json
import platform
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import docker.errors
import requests
from kubernetes.client import ApiClient, VersionApi
from kubernetes.client.exceptions import ApiException

from services.cloud import kube
from shared.contracts.rpc import PingResult
from shared.dockerengine import CloudUnusable, docker_client

TIMEOUT = 3  # seconds for the engine to connect and answer
_MAX_MESSAGE = 200


def ping(cloud: Mapping[str, Any]) -> PingResult:
    """Ping a stored cloud (secrets already decrypted) by its type."""
    kind = cloud.get("type")
    if kind == "Local":
        return ping_local()
    if kind == "Docker":
        return ping_docker(cloud.get("docker") or {})
    if kind == "Kubernetes":
        return ping_kubernetes(cloud.get("kubernetes") or {})
    return error(f"unknown cloud type {kind!r}")


def ping_local() -> PingResult:
    return {
        "status": "ok",
        "version": f"local {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}",
    }


def ping_docker(section: Mapping[str, Any]) -> PingResult:
    """The engine's version, asked at `host` (unix:// or tcp://), with TLS when `certPath`
    names a folder holding ca.pem, cert.pem and key.pem (`insecure`: no server check)."""
    host = str(section.get("host") or "")
    if not host:
        return error("the cloud names no Docker host")
    try:
        client = docker_client(section, TIMEOUT)
        try:
            found = client.version(api_version=False)  # GET /version, answered by every engine
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the ping's answer
        return error(f"Docker engine at {host}: {reason(exc)}")
    if not isinstance(found, dict) or "Version" not in found:
        return error(f"Docker engine at {host}: the answer is not a Docker engine's")
    return {
        "status": "ok",
        "version": f"Docker {found['Version']} (API {found.get('ApiVersion', '?')})",
    }


def ping_kubernetes(section: Mapping[str, Any]) -> PingResult:
    """The API server's version (`GET /version`), asked with the cloud's auth and TLS."""
    where = "the in-cluster API server" if section.get("inCluster") else "?"
    try:
        config = kube.configuration(section)
        where = f"Kubernetes API at {config.host}"
        config.retries = False  # one try: a ping answers within TIMEOUT
        with ApiClient(config) as client:
            answer = VersionApi(client).get_code(_request_timeout=TIMEOUT, _preload_content=False)
            found = json.loads(answer.data)
    except kube.KubeConfigError as exc:
        return error(f"Kubernetes: {exc}")
    except ApiException as exc:
        if not exc.status:  # the client's wrapping of a transport error (TLS, ...)
            return error(f"{where}: {_api_server(reason(exc.__context__ or exc))}")
        why, message = kube.api_message(exc.body)
        return error(_shorten(f"{where}: HTTP {exc.status}: {message or why or exc.reason}"))
    except ValueError:
        return error(f"{where}: the answer is not a Kubernetes API server's")
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the ping's answer
        return error(f"{where}: {_api_server(reason(exc))}")
    if not isinstance(found, dict) or "gitVersion" not in found:
        return error(f"{where}: the answer is not a Kubernetes API server's")
    return {
        "status": "ok",
        "version": f"Kubernetes {found['gitVersion']} ({found.get('platform', '?')})",
    }


def _api_server(text: str) -> str:
    return text.replace("the engine", "the API server")


def error(message: str) -> PingResult:
    return {"status": "error", "message": message}


def reason(exc: BaseException) -> str:
    """A short reason for a failed ping, from the innermost cause that tells one."""
    for cause in reversed(list(_chain(exc))):
        if isinstance(cause, CloudUnusable):
            return str(cause)
        if isinstance(cause, docker.errors.TLSParameterError):
            return f"TLS: {str(cause).split('. ')[0]} (under certPath)"
        if isinstance(cause, TimeoutError | socket.timeout | requests.Timeout):
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
        if isinstance(cause, docker.errors.APIError):
            said = cause.response.reason if cause.response is not None else ""
            return _shorten(f"HTTP {cause.status_code}: {cause.explanation or said}")
        if isinstance(cause, json.JSONDecodeError | requests.exceptions.JSONDecodeError):
            return "the answer is not a Docker engine's"
    return _shorten(str(exc) or type(exc).__name__)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _shorten(text: str) -> str:
    text = text.removeprefix("Error while fetching server API version: ")
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
