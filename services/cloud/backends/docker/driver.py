"""The Docker driver: a worker per record on this host, running the record's stages in
containers on the cloud's Docker engine (which may be another machine).

The worker process is one of this host's `HostWorkers`, managed as the Local driver's are
(process group, adopted after a restart, exit reports); its launch names the engine and tells
it to run commands in the pipeline's builder container (cloud type Docker). What it makes on
the engine carries labels naming record, cloud and host; the worker removes it when its run
ends, and this driver's `EngineCleanup` removes it again when the worker has exited or was
stopped (a killed worker cannot clean up), and sweeps, once after it is made (a start of the
service), what this cloud and host left behind for records it no longer runs. Its
`SpareBuilders` keep builders started ahead for the images its records use (spares.py): a
record is handed one in its launch.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable

import eventlet

from services.cloud.backends.base import (
    DriverContext,
    DriverFactory,
    ExitReport,
    Handle,
    SavedWorker,
)
from services.cloud.backends.docker.spares import (
    DEFAULT_SIZE,
    SpareBuilders,
    size_from_env,
    token_of,
)
from services.cloud.backends.enginecleanup import EngineCleanup
from services.cloud.backends.hostworkers import HostWorkers, launch_on_host
from shared.contracts.catalog import DockerSection
from shared.contracts.launch import WorkerLaunch
from shared.contracts.rpc import Job, Placement, WorkerInfo

KIND = "docker"


class DockerDriver:
    """See the module docstring. The engine is the stored cloud's `docker` section as it is
    when used (the cloud may be replaced while the driver lives)."""

    kind = KIND

    def __init__(
        self,
        cloud: str,
        context: DriverContext,
        *,
        sleep: Callable[[float], object] = eventlet.sleep,
        spawn: Callable[..., object] = eventlet.spawn_n,
        spares: int = DEFAULT_SIZE,
    ) -> None:
        self.cloud = cloud
        self.context = context
        self.processes = HostWorkers(cloud, context, sleep=sleep)
        self._spawn = spawn
        self.spares = SpareBuilders(cloud, context.host, self.section, spares, spawn=spawn)
        self._handed: dict[str, str] = {}  # record -> token of the spare its launch names
        self.cleanup = EngineCleanup(
            cloud, context.host, self.section, self._running, spawn, kept=self._kept_spares
        )

    def section(self) -> DockerSection:
        stored = self.context.find(self.cloud)
        return DockerSection(**((stored or {}).get("docker") or {}))

    def launch_of(self, record_id: str, image: str = "") -> WorkerLaunch:
        """The launch of a record's worker: commands in the builder container on the cloud's
        engine as it is stored now, in a spare builder of `image` when one is ready."""
        launched = launch_on_host(
            self.context, record_id, "Docker", self.cloud, engine=self.section()
        )
        if previous := self._handed.pop(record_id, ""):  # a previous worker's, which died
            self._spawn(self.spares.remove, previous)
        spare = self.spares.take(image) if image else ""
        if spare:
            self._handed[record_id] = token_of(spare)
        return dataclasses.replace(launched, spare_builder=spare)

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        *,
        job: Job | None = None,
    ) -> WorkerInfo:
        # a quota's limits are set when a builder is made: spares have none
        image = "" if placement.get("quota") else placement.get("builderImage", "")
        try:
            return self.processes.start(
                record_id, project, pipeline, lambda: self.launch_of(record_id, image), job=job
            )
        except BaseException:
            if token := self._handed.pop(record_id, ""):  # no worker will take it
                self._spawn(self.spares.remove, token)
            raise

    def stop(self, record_id: str) -> bool:
        stopped = self.processes.stop(record_id)
        self.cleanup.remove(record_id, self._handed.pop(record_id, ""))
        return stopped

    def poll(self) -> builtins.list[ExitReport]:
        reports = self.processes.poll()
        for report in reports:
            self.cleanup.remove_later(report.record_id, self._handed.pop(report.record_id, ""))
        self.cleanup.sweep_when_due()
        return reports

    def list(self) -> builtins.list[WorkerInfo]:
        return self.processes.list()

    def handle(self, record_id: str) -> Handle:
        return self.processes.handle(record_id)

    def adopt(self, saved: builtins.list[SavedWorker]) -> None:
        self.processes.adopt(saved)

    def discard(self, record_id: str) -> None:
        self.processes.discard(record_id)
        self.cleanup.remove_later(record_id, self._handed.pop(record_id, ""))

    def sweep(self) -> builtins.list[str]:
        """Sweep the engine now (see EngineCleanup.sweep)."""
        return self.cleanup.sweep()

    def close(self) -> None:
        """The service stops: the spares still waiting go (workers keep running)."""
        self.spares.close()

    def _running(self) -> builtins.list[str]:
        return [info["recordID"] for info in self.processes.list()]

    def _kept_spares(self) -> set[str]:
        return self.spares.held() | set(self._handed.values())


def drivers(context: DriverContext) -> DriverFactory:
    """The factory of Docker drivers: each reads its stored cloud's engine when it uses it."""

    size = size_from_env(context.environ)  # checked once, when the service starts

    def make(cloud: str) -> DockerDriver:
        return DockerDriver(cloud, context, spares=size)

    return make
