"""The Docker driver: a worker per record on this host, running the record's stages in
containers on the cloud's Docker engine (which may be another machine).

The worker process is managed exactly as the Local driver manages it (process group, adopt
after a restart, exit reports); it is told which engine to use and to run commands in the
pipeline's builder container (CYCLONE_EXECUTOR=docker). Everything the worker makes on the
engine carries labels naming record, cloud and host; the worker removes it when its run
ends, and this driver removes it again when the worker has exited or was stopped (a killed
worker cannot clean up), and sweeps, once after it is made (a start of the service), what
this cloud and host left behind for records it no longer runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import eventlet

from services.cloud.drivers.base import ExitReport
from services.cloud.drivers.local import DEFAULT_COMMAND, LocalDriver
from shared import dockerengine
from shared.dockerengine import CLOUD_LABEL, HOST_LABEL, RECORD_LABEL
from shared.workertoken import WorkerTokens

log = logging.getLogger(__name__)

ENGINE_TIMEOUT = 30.0  # seconds for one cleanup request to the engine
SWEEP_RETRY = 30.0  # seconds between sweeps while the engine cannot be reached
WORKER_ENV = {
    "executor": "CYCLONE_EXECUTOR",
    "cloud": "CYCLONE_WORKER_CLOUD",
    "host": "CYCLONE_WORKER_HOST",
}
ENGINE_ENV = (dockerengine.HOST_ENV, dockerengine.CERT_PATH_ENV, dockerengine.INSECURE_ENV)


class DockerDriver(LocalDriver):
    """See the module docstring. `section` gives the cloud's current `docker` settings (the
    stored cloud may be updated while the driver lives)."""

    kind = "docker"

    def __init__(
        self,
        data_dir: Path,
        amqp_uri: str,
        command: Sequence[str] = DEFAULT_COMMAND,
        *,
        cloud: str,
        section: Callable[[], Mapping[str, Any]],
        host: str,
        env: Mapping[str, str] | None = None,
        spawn: Callable[..., Any] = eventlet.spawn_n,
        kind: str = "docker",
        commands_in_engine: bool = True,
        tokens: WorkerTokens | None = None,
        build_user: str | None = None,
        workspaces: Path | None = None,
    ) -> None:
        super().__init__(
            data_dir,
            amqp_uri,
            command,
            cloud=cloud,
            env=env,
            tokens=tokens,
            build_user=build_user,
            workspaces=workspaces,
        )
        # The Local cloud with an engine (CYCLONE_DOCKER_HOST) is served by this driver too,
        # as kind "local" with commands on the host: only its cleanup is needed.
        self.kind = kind
        self._commands_in_engine = commands_in_engine
        self._section = section
        self.host = host
        self._spawn = spawn  # engine requests run beside the poll: a slow engine delays no exit
        self._next_sweep = 0.0  # monotonic time of the next sweep; inf once one succeeded
        self._sweeping = False

    def worker_env(self, record_id: str) -> dict[str, str]:
        env = {k: v for k, v in super().worker_env(record_id).items() if k not in ENGINE_ENV}
        env.update(dockerengine.section_to_env(self._section()))
        if self._commands_in_engine:
            env[WORKER_ENV["executor"]] = "docker"
        env[WORKER_ENV["cloud"]] = self.cloud
        env[WORKER_ENV["host"]] = self.host
        return env

    def stop(self, record_id: str) -> bool:
        stopped = super().stop(record_id)
        self._remove({RECORD_LABEL: record_id, CLOUD_LABEL: self.cloud})
        return stopped

    def poll(self) -> list[ExitReport]:
        reports = super().poll()
        for report in reports:
            self._spawn(self._remove, {RECORD_LABEL: report.record_id, CLOUD_LABEL: self.cloud})
        if time.monotonic() >= self._next_sweep and not self._sweeping:
            self._sweeping = True
            self._spawn(self.sweep)
        return reports

    def discard(self, record_id: str) -> None:
        super().discard(record_id)
        self._spawn(self._remove, {RECORD_LABEL: record_id, CLOUD_LABEL: self.cloud})

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
                items = [
                    *client.containers.list(all=True, filters=mine),
                    *client.networks.list(filters=mine),
                    *client.volumes.list(filters=mine),
                ]
                records = {_labels(item).get(RECORD_LABEL) for item in items}
                # Only now: a worker started after the listing cannot lose what it made.
                running = {info["recordID"] for info in self.list()}
                removed: list[str] = []
                for record_id in sorted(r for r in records if r and r not in running):
                    removed += dockerengine.remove_labelled(
                        client,
                        {RECORD_LABEL: record_id, CLOUD_LABEL: self.cloud, HOST_LABEL: self.host},
                    )
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

    def _remove(self, match: Mapping[str, str]) -> None:
        try:
            client = self._client()
            try:
                removed = dockerengine.remove_labelled(client, match)
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - the sweep after the next start retries
            log.warning("cloud %s: cannot remove %s from the engine: %s", self.cloud, match, exc)
            self._next_sweep = min(self._next_sweep, time.monotonic() + SWEEP_RETRY)
            return
        if removed:
            log.info("cloud %s: removed %s", self.cloud, ", ".join(removed))

    def _client(self) -> Any:
        return dockerengine.docker_client(self._section(), ENGINE_TIMEOUT, version="auto")


def _labels(item: Any) -> Mapping[str, str]:
    """A container's, network's or volume's labels (they sit in different places)."""
    attrs = item.attrs or {}
    return attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
