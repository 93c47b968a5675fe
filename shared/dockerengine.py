"""A docker SDK client for exactly the engine a cloud names (the cloud service pings it, the
worker builds and runs containers on it), and the settings that name it.

A Docker cloud's `docker` section (`host`, `certPath`, `insecure`) travels to a worker as
CYCLONE_DOCKER_HOST / CYCLONE_DOCKER_CERT_PATH / CYCLONE_DOCKER_INSECURE; the same variables
give a Local cloud's workers an engine for the image stages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.contracts.catalog import DockerSection
from shared.envvars import Env

if TYPE_CHECKING:  # the SDK is imported where it is used: a Local worker never needs it
    import docker
    import docker.tls
    from docker.models.containers import Container

log = logging.getLogger(__name__)

HOST_ENV = "CYCLONE_DOCKER_HOST"
CERT_PATH_ENV = "CYCLONE_DOCKER_CERT_PATH"
INSECURE_ENV = "CYCLONE_DOCKER_INSECURE"
CLIENT_FILES = ("cert.pem", "key.pem")
# Labels on every container, network and volume a worker makes: the worker removes them by
# record when its run ends, the cloud service again after the worker exited and, on start,
# sweeps those of its cloud and host whose record it no longer runs.
LABEL_PREFIX = "io.cyclone."
RECORD_LABEL = LABEL_PREFIX + "record"
CLOUD_LABEL = LABEL_PREFIX + "cloud"
HOST_LABEL = LABEL_PREFIX + "host"
# A spare builder (a Docker cloud's builder container started before its record is known,
# services/cloud/backends/docker/spares.py) carries its token instead of a record, on its
# container, network and volume, and the image it runs, for the operator and the taker.
SPARE_LABEL = LABEL_PREFIX + "spare"
IMAGE_LABEL = LABEL_PREFIX + "image"

WORKSPACE = "/workspace"  # where the workspace volume is mounted in every container
# The builder container's main process: it only has to stay up while stages exec into it.
# Plain sh so any builder image with a shell works; docker-init (init=True) reaps and stops it.
KEEP_ALIVE = ["sh", "-c", "while :; do sleep 3600; done"]


class CloudUnusable(Exception):
    """The cloud's own settings cannot work; the message says why."""


def resource_name(owner: str, part: str) -> str:
    """Names of a record's resources (`owner` its id) and of a spare's (`spare-<token>`):
    unique per owner, so a second worker of the same record (a restart) finds the first
    one's leftovers by name."""
    return f"cyclone-{owner}-{part}"


def create_container(
    client: docker.DockerClient,
    image: str,
    name: str,
    command: Sequence[str] | None,
    *,
    labels: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    limits: Mapping[str, int] | None = None,
    network: str | None = None,
    network_mode: str | None = None,
    volume: str | None = None,
    working_dir: str | None = None,
) -> Container:
    """Create (not start) a container as every container a worker or a spare builder makes
    is: docker-init as its first process (it reaps, and stops it at once), its labels, the
    workspace `volume` at WORKSPACE, on `network` or in `network_mode`."""
    kwargs: dict[str, object] = {}  # docker's create() options
    if volume:
        kwargs["volumes"] = {volume: {"bind": WORKSPACE, "mode": "rw"}}
    if working_dir:
        kwargs["working_dir"] = working_dir
    if network_mode:
        kwargs["network_mode"] = network_mode
    elif network:
        kwargs["network"] = network
    return client.containers.create(
        image,
        command=list(command) if command else None,
        name=name,
        detach=True,
        init=True,
        labels=dict(labels),
        environment=dict(env or {}),
        **dict(limits or {}),
        **kwargs,
    )


def spare_owner(token: str) -> str:
    """The owner part of a spare's names (record ids are hex: the two never meet)."""
    return f"spare-{token}"


def section_to_env(section: Mapping[str, Any]) -> dict[str, str]:
    """The worker's variables for a cloud's `docker` section."""
    env = {HOST_ENV: str(section.get("host") or "")}
    if section.get("certPath"):
        env[CERT_PATH_ENV] = str(section["certPath"])
    if section.get("insecure"):
        env[INSECURE_ENV] = "1"
    return env


def section_from_env(env: Mapping[str, str]) -> DockerSection | None:
    """The `docker` section the variables describe; None when no engine is configured."""
    read = Env(env)
    host = read.text(HOST_ENV)
    if not host:
        return None
    return {
        "host": host,
        "certPath": read.text(CERT_PATH_ENV),
        "insecure": read.flag(INSECURE_ENV, False),
    }


def docker_client(
    section: Mapping[str, Any], timeout: float, version: str | None = None
) -> docker.DockerClient:
    """A client of the engine a `docker` section names, and of nothing else.

    With no `version` the API version is the SDK's minimum, so making the client sends no
    request (the SDK would ask the engine's version first: two requests, two timeouts). The
    environment of the caller's host does not apply: requests would let REQUESTS_CA_BUNDLE
    or CURL_CA_BUNDLE replace the cloud's own ca.pem, and HTTP(S)_PROXY send engine traffic
    through a web proxy.
    """
    import docker
    import docker.constants

    client = docker.DockerClient(
        base_url=str(section.get("host") or ""),
        version=version or docker.constants.MINIMUM_DOCKER_API_VERSION,
        timeout=timeout,
        tls=tls_config(section),
    )
    client.api.trust_env = False
    return client


def tls_config(section: Mapping[str, Any]) -> docker.tls.TLSConfig | bool:
    """TLS from `certPath` (the Docker CLI's file names); False (plain) without it."""
    import docker.tls

    cert_path = section.get("certPath")
    if not cert_path:
        return False
    needed = ("ca.pem", "cert.pem", "key.pem") if not section.get("insecure") else CLIENT_FILES
    missing = [name for name in needed if not os.path.isfile(os.path.join(cert_path, name))]
    if missing:
        raise CloudUnusable(f"TLS: no {', '.join(missing)} in certPath {cert_path}")
    return docker.tls.TLSConfig(
        client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
        ca_cert=os.path.join(cert_path, "ca.pem"),
        verify=not section.get("insecure"),
    )


def explain(exc: BaseException) -> str:
    import docker.errors

    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc) or type(exc).__name__


def remove_labelled(client: docker.DockerClient, match: Mapping[str, str]) -> list[str]:
    """Remove containers, then networks, then volumes whose labels include `match`; returns
    what went. Never raises for one item: what stays is logged and swept later."""
    import docker.errors

    removers: dict[str, Callable[[Any], None]] = {
        "container": lambda c: c.remove(force=True, v=True),
        "network": lambda n: n.remove(),
        "volume": lambda v: v.remove(force=True),
    }
    filters = {"label": [f"{key}={value}" for key, value in match.items()]}
    finders: dict[str, Callable[[], Iterable[Any]]] = {
        "container": lambda: client.containers.list(all=True, filters=filters),
        "network": lambda: client.networks.list(filters=filters),
        "volume": lambda: client.volumes.list(filters=filters),
    }
    removed: list[str] = []
    for kind, find in finders.items():
        try:
            found = list(find())
        except docker.errors.APIError as exc:
            log.warning("cannot list %ss labelled %s: %s", kind, match, explain(exc))
            continue
        for item in found:
            try:
                removers[kind](item)
                removed.append(f"{kind} {item.name}")
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                log.warning("cannot remove %s %s: %s", kind, item.name, explain(exc))
    return removed
