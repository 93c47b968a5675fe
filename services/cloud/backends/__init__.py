"""The cloud backends: one package per kind of cloud, chosen by cloud type from `BACKENDS`.

A backend is what the cloud service knows of a kind of cloud: its driver (launch, watch, stop
and sweep workers: the `Driver` protocol of `base.py`) and its ping, bundled as a `Backend`.
The worker's side of each backend (where a stage's commands run) lives with the worker, in
services/worker/executors/, chosen by the same cloud type (shared/contracts/launch.py);
neither side imports the other. Adding a backend: a package here exporting `BACKEND`, and its
line below (docs/architecture.md "Adding a cloud backend").

Shared by several backends, by composition (no driver subclasses another): `hostworkers.py`
(workers as processes on this host: Local, Docker), `enginecleanup.py` (what workers left on
a Docker engine: Docker, Local with an engine), `pinging.py` (answers and reasons of pings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from services.cloud import domain
from services.cloud.backends import docker, kubernetes, local, pinging
from services.cloud.backends.base import Backend, DriverContext, DriverFactory
from shared.contracts.catalog import Cloud
from shared.contracts.errors import InvalidRequest
from shared.contracts.launch import CloudType
from shared.contracts.rpc import PingResult

BACKENDS: Final[Mapping[CloudType, Backend]] = {
    "Local": local.BACKEND,
    "Docker": docker.BACKEND,
    "Kubernetes": kubernetes.BACKEND,
}


def backend_of(cloud_type: object) -> Backend | None:
    """The backend of a cloud type (a stored cloud's `type`), None for one we do not have."""
    return next((b for t, b in BACKENDS.items() if t == cloud_type), None)


def ping(cloud: Cloud) -> PingResult:
    """Ping a stored cloud (secrets already decrypted) by its type; never raises."""
    backend = backend_of(cloud.get("type"))
    if backend is None:
        return pinging.error(f"unknown cloud type {cloud.get('type')!r}")
    return backend.ping(cloud)


def driver_for(name: str | None, stored: Mapping[str, object] | None) -> tuple[str, str]:
    """The cloud a placement's `cloudName` runs in and the kind of driver serving it.

    `stored` is the cloud of that name in `clouds`, if any. No name: the built-in Local
    cloud. A stored cloud runs under its own name, served by its type's backend (refused
    when there is none). A name not stored falls back to the built-in names (`local` in any
    case, as before clouds were stored).
    """
    if not name or stored is None:
        return domain.cloud_of(name), BACKENDS["Local"].kind
    backend = backend_of(stored.get("type"))
    if backend is None:
        raise InvalidRequest(
            f"cloud {name} is of type {stored.get('type')}, whose driver is not available yet"
        )
    return str(stored["name"]), backend.kind


def factories(context: DriverContext) -> dict[str, DriverFactory]:
    """Each backend's factory of drivers, by driver kind, made once per service container."""
    return {backend.kind: backend.drivers(context) for backend in BACKENDS.values()}
