"""Ping a Docker cloud: the engine's `/version`, through the docker SDK."""

from __future__ import annotations

from services.cloud.backends import pinging
from shared.contracts.catalog import Cloud
from shared.contracts.rpc import PingResult
from shared.dockerengine import docker_client


def ping(cloud: Cloud) -> PingResult:
    """The engine's version, asked at `host` (unix:// or tcp://), with TLS when `certPath`
    names a folder holding ca.pem, cert.pem and key.pem (`insecure`: no server check)."""
    section = cloud.get("docker") or {}
    host = str(section.get("host") or "")
    if not host:
        return pinging.error("the cloud names no Docker host")
    try:
        client = docker_client(section, pinging.TIMEOUT)
        try:
            found = client.version(api_version=False)  # GET /version, answered by every engine
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the ping's answer
        return pinging.error(f"Docker engine at {host}: {pinging.reason(exc)}")
    if not isinstance(found, dict) or "Version" not in found:
        return pinging.error(f"Docker engine at {host}: the answer is not a Docker engine's")
    return pinging.ok(f"Docker {found['Version']} (API {found.get('ApiVersion', '?')})")
