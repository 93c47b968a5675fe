"""The Local driver: each worker is a child process of the cloud service, on this host, and
runs its stages' commands on this host too, as the build user when there is one.

The processes are `HostWorkers` (services/cloud/backends/hostworkers.py). When the cloud
service's environment names a Docker engine (CYCLONE_DOCKER_HOST), Local workers use it for
the image stages, and the driver removes and sweeps what they left on it as the Docker
driver does (an `EngineCleanup`).
"""

from __future__ import annotations

import builtins
import logging
import os
import pwd
import subprocess
from collections.abc import Callable, Mapping

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
from shared.contracts import launch
from shared.contracts.catalog import DockerSection
from shared.contracts.launch import WorkerLaunch
from shared.contracts.rpc import Job, Placement, WorkerInfo

log = logging.getLogger(__name__)

KIND = "local"  # also the built-in cloud's name (services.cloud.domain.LOCAL)
DEFAULT_BUILD_USER = "cyclone-build"


class LocalDriver:
    """Workers as process groups on this host; see the module docstring."""

    kind = KIND

    def __init__(
        self,
        cloud: str,
        context: DriverContext,
        *,
        build_user: str | None = None,
        engine: DockerSection | None = None,
        sleep: Callable[[float], object] = eventlet.sleep,
        spawn: Callable[..., object] = eventlet.spawn_n,
    ) -> None:
        self.cloud = cloud
        self.context = context
        self.engine = engine
        self.processes = HostWorkers(cloud, context, build_user=build_user, sleep=sleep)
        self.cleanup: EngineCleanup | None = None
        if engine is not None:  # image stages on that engine: clean up after them too
            section = engine
            self.cleanup = EngineCleanup(cloud, context.host, lambda: section, self._running, spawn)

    @property
    def command(self) -> builtins.list[str]:
        return self.processes.command

    def launch_of(self, record_id: str) -> WorkerLaunch:
        """The launch of a record's worker: commands on this host, as the build user, the
        service's engine (if any) for the image stages."""
        return launch_on_host(
            self.context,
            record_id,
            "Local",
            self.cloud,
            build_user=self.processes.build_user,
            engine=self.engine,
        )

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        *,
        job: Job | None = None,
    ) -> WorkerInfo:
        return self.processes.start(
            record_id, project, pipeline, lambda: self.launch_of(record_id), job=job
        )

    def stop(self, record_id: str) -> bool:
        stopped = self.processes.stop(record_id)
        if self.cleanup is not None:
            self.cleanup.remove(record_id)
        return stopped

    def poll(self) -> builtins.list[ExitReport]:
        reports = self.processes.poll()
        if self.cleanup is not None:
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

    def close(self) -> None:
        return None  # nothing is made ahead

    def discard(self, record_id: str) -> None:
        self.processes.discard(record_id)
        if self.cleanup is not None:
            self.cleanup.remove_later(record_id)

    def _running(self) -> builtins.list[str]:
        return [info["recordID"] for info in self.processes.list()]


def drivers(context: DriverContext) -> DriverFactory:
    """The factory of Local drivers. Who builds run as and the engine of the image stages are
    settled once, here: the service's CYCLONE_BUILD_USER (the user is made when missing) and
    CYCLONE_DOCKER_* settings."""
    build_user = build_user_of(context.environ)  # builds never run as the services' user
    engine = launch.docker_section(context.environ)

    def make(cloud: str) -> LocalDriver:
        return LocalDriver(cloud, context, build_user=build_user, engine=engine)

    return make


# --- the build user ----------------------------------------------------------------------------


def build_user_of(env: Mapping[str, str]) -> str | None:
    """Who a Local cloud's build commands run as: `CYCLONE_BUILD_USER`, by default
    `cyclone-build` when the services run as root (made here when missing), else nobody else
    (None: the services' own user, which the cloud service warns about at start)."""
    name = env.get(launch.BUILD_USER)
    if name is None:
        name = DEFAULT_BUILD_USER if os.geteuid() == 0 else ""
    name = name.strip()
    if not name or name == pwd.getpwuid(os.geteuid()).pw_name:
        log.warning(
            "builds on the Local cloud run as the services' own user (%s) and can read "
            "their keys: run untrusted code on a Docker or Kubernetes cloud (docs/security.md)",
            pwd.getpwuid(os.geteuid()).pw_name,
        )
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
        )
        log.info("made the build user %s", name)
    return name
