"""What workers left on a Docker engine, removed by label: the part the Docker backend and
the Local backend with an engine share (their drivers hold an `EngineCleanup` each).

Everything a worker makes on an engine carries labels naming its record, cloud and host
(shared/dockerengine.py); the worker removes it when its run ends. A worker killed with -9
cannot, so the driver removes a record's things again when its worker has exited or was
stopped, and sweeps, once after it is made (a start of the service), what its cloud and host
left behind for records it no longer runs. Engine requests run in green threads of their own
beside the poll (`spawn`), so a slow engine delays no exit report.

A Docker cloud's spare builders (docker/spares.py) carry a token instead of a record: one
taken is removed with its record (by the token the driver handed, or the one on the
record's builder, for a worker adopted after a restart); the sweep removes those of its cloud
and host that the driver does not keep (`kept`) and no running record took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import eventlet

from shared import dockerengine
from shared.contracts.catalog import DockerSection
from shared.dockerengine import (
    CLOUD_LABEL,
    HOST_LABEL,
    RECORD_LABEL,
    SPARE_LABEL,
    resource_name,
)

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

ENGINE_TIMEOUT = 30.0  # seconds for one cleanup request to the engine
SWEEP_RETRY = 30.0  # seconds between sweeps while the engine cannot be reached


class Labelled(Protocol):
    """A container, network or volume as the docker SDK lists it."""

    attrs: Mapping[str, object] | None


class EngineCleanup:
    """Removes by label what the workers of one cloud on this host left on its engine.
    `section` gives the engine's current settings (a stored cloud may change while the
    driver lives); `running` the records whose workers run now (their things stay)."""

    def __init__(
        self,
        cloud: str,
        host: str,
        section: Callable[[], DockerSection],
        running: Callable[[], Iterable[str]],
        spawn: Callable[..., object] = eventlet.spawn_n,
        kept: Callable[[], Iterable[str]] = frozenset,
    ) -> None:
        self.cloud = cloud
        self.host = host
        self._section = section
        self._running = running
        self._spawn = spawn
        self._kept = kept
        self._next_sweep = 0.0  # monotonic time of the next sweep; inf once one succeeded
        self._sweeping = False

    def remove_later(self, record_id: str, spare: str = "") -> None:
        """Remove a record's things in a green thread of their own."""
        self._spawn(self.remove, record_id, spare)

    def sweep_when_due(self) -> None:
        """Start a sweep when one is due (first after the start, again after a failure)."""
        if time.monotonic() >= self._next_sweep and not self._sweeping:
            self._sweeping = True
            self._spawn(self.sweep)

    def remove(self, record_id: str, spare: str = "") -> None:
        """Remove what carries the record's and this cloud's labels, and the spare builder
        it was handed (token `spare`) or took; never raises (the sweep after the next start
        retries)."""
        match = {RECORD_LABEL: record_id, CLOUD_LABEL: self.cloud}
        try:
            client = self._client()
            try:
                removed = dockerengine.remove_labelled(client, match)
                for token in sorted({spare, _spare_taken(client, record_id)} - {""}):
                    removed += dockerengine.remove_labelled(
                        client, {SPARE_LABEL: token, CLOUD_LABEL: self.cloud}
                    )
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - the sweep after the next start retries
            log.warning("cloud %s: cannot remove %s from the engine: %s", self.cloud, match, exc)
            self._next_sweep = min(self._next_sweep, time.monotonic() + SWEEP_RETRY)
            return
        if removed:
            log.info("cloud %s: removed %s", self.cloud, ", ".join(removed))

    def sweep(self) -> list[str]:
        """Remove what this cloud's workers on this host left on the engine for records no
        worker of ours runs now (after a crash of the service or of a worker)."""
        try:
            return self._sweep()
        finally:
            self._sweeping = False

    def _sweep(self) -> list[str]:
        mine = {"label": [f"{CLOUD_LABEL}={self.cloud}", f"{HOST_LABEL}={self.host}"]}
        try:
            client = self._client()
            try:
                items: list[Labelled] = [
                    *client.containers.list(all=True, filters=mine),
                    *client.networks.list(filters=mine),
                    *client.volumes.list(filters=mine),
                ]
                records = {_labels(item).get(RECORD_LABEL) for item in items}
                spares = {_labels(item).get(SPARE_LABEL) for item in items}
                # Only now: a worker started after the listing cannot lose what it made.
                running = set(self._running())
                kept = set(self._kept()) | {_spare_taken(client, r) for r in running}
                removed: list[str] = []
                here = {CLOUD_LABEL: self.cloud, HOST_LABEL: self.host}
                for record_id in sorted(r for r in records if r and r not in running):
                    removed += dockerengine.remove_labelled(
                        client, {RECORD_LABEL: record_id, **here}
                    )
                for token in sorted(t for t in spares if t and t not in kept):
                    removed += dockerengine.remove_labelled(client, {SPARE_LABEL: token, **here})
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - an unreachable engine: try again later
            log.warning("cloud %s: cannot sweep the engine: %s", self.cloud, exc)
            self._next_sweep = time.monotonic() + SWEEP_RETRY
            return []
        self._next_sweep = float("inf")
        if removed:
            log.info("cloud %s: swept %s", self.cloud, ", ".join(removed))
        return removed

    def _client(self) -> docker.DockerClient:
        return dockerengine.docker_client(self._section(), ENGINE_TIMEOUT, version="auto")


def _spare_taken(client: docker.DockerClient, record_id: str) -> str:
    """The token of the spare builder a record's worker took (renamed to the record's
    builder), or ''."""
    import docker.errors

    try:
        builder = client.containers.get(resource_name(record_id, "builder"))
    except docker.errors.NotFound:
        return ""
    return str(_labels(builder).get(SPARE_LABEL) or "")


def _labels(item: Labelled) -> Mapping[str, str]:
    """A container's, network's or volume's labels (they sit in different places)."""
    attrs: Mapping[str, object] = item.attrs or {}
    config = attrs.get("Config")
    found = attrs.get("Labels") or (config.get("Labels") if isinstance(config, Mapping) else None)
    return found if isinstance(found, Mapping) else {}
