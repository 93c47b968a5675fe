"""The Docker driver: a worker per record on this host, running the record's stages in
containers on the cloud's Docker engine (which may be another machine).

The worker process is one of this host's `HostWorkers`, managed as the Local driver's are
(process group, adopted after a restart, exit reports); its launch names the engine and tells
it to run commands in the pipeline's builder container (cloud type Docker). What it makes on
the engine carries labels naming record, cloud and host; the worker removes it when its run
ends, and this driver's `EngineCleanup` removes it again when the worker has exited or was
stopped (a killed worker cannot clean up), and sweeps, once after it is made (a start of the
service), what this cloud and host left behind for records it no longer runs.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

import eventlet

from services.cloud.backends.base import (
    DriverContext,
    DriverFactory,
    ExitReport,
    Handle,
    SavedWorker,
)
from services.cloud.backends.enginecleanup import EngineCleanup
from services.cloud.backends.hostworkers import HostWorkers, launch_on_host
from shared.contracts.catalog import DockerSection
from shared.contracts.launch import WorkerLaunch
from shared.contracts.rpc import Placement, WorkerInfo

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
    ) -> None:
        self.cloud = cloud
        self.context = context
        self.processes = HostWorkers(cloud, context, sleep=sleep)
        self.cleanup = EngineCleanup(cloud, context.host, self.section, self._running, spawn)

    def section(self) -> DockerSection:
        stored = self.context.find(self.cloud)
        return DockerSection(**((stored or {}).get("docker") or {}))

    def launch_of(self, record_id: str) -> WorkerLaunch:
        """The launch of a record's worker: commands in the builder container on the cloud's
        engine as it is stored now."""
        return launch_on_host(self.context, record_id, "Docker", self.cloud, engine=self.section())

    def start(
        self, record_id: str, project: str, pipeline: str, placement: Placement
    ) -> WorkerInfo:
        return self.processes.start(record_id, project, pipeline, lambda: self.launch_of(record_id))

    def stop(self, record_id: str) -> bool:
        stopped = self.processes.stop(record_id)
        self.cleanup.remove(record_id)
        return stopped

    def poll(self) -> builtins.list[ExitReport]:
        reports = self.processes.poll()
        for report in reports:
            self.cleanup.remove_later(report.record_id)
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
        self.cleanup.remove_later(record_id)

    def sweep(self) -> builtins.list[str]:
        """Sweep the engine now (see EngineCleanup.sweep)."""
        return self.cleanup.sweep()

    def _running(self) -> builtins.list[str]:
        return [info["recordID"] for info in self.processes.list()]


def drivers(context: DriverContext) -> DriverFactory:
    """The factory of Docker drivers: each reads its stored cloud's engine when it uses it."""

    def make(cloud: str) -> DockerDriver:
        return DockerDriver(cloud, context)

    return make
