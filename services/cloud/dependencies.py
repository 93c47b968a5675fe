"""The service's dependencies, built once per container from the CYCLONE_* settings.

`Workers` hands entrypoints the Supervisor, `Clouds` the CloudCatalog; both come from one
`CloudParts` (a nameko SharedExtension), so they share one Mongo client and one supervisor
(a cloud is only deleted while the supervisor starts nothing in it).

`CYCLONE_LOCAL_WORKER_CMD` (test/dev hook): a JSON list replacing the Local driver's worker
command `[python, "-m", "services.worker"]`; `--record-id <id>` is still appended, so e.g.
`["sh", "-c", "sleep 30"]` runs a stand-in. Leave it unset in real deployments.

With `CYCLONE_FORK_SERVER` on (the default) the drivers of workers on this host fork them
from a fork server (backends/forkserver.py), only with the real worker command (a stand-in
cannot be forked that way).
"""

from __future__ import annotations

import os
import socket
from typing import Any, cast

from nameko.extensions import DependencyProvider, SharedExtension

from services.cloud import backends, domain
from services.cloud.backends.base import DEFAULT_COMMAND, DriverContext
from services.cloud.backends.forkserver import ForkServer
from services.cloud.backends.hostworkers import host_env
from services.cloud.clouds import CloudCatalog
from services.cloud.store import CloudStore, WorkerStore
from services.cloud.supervisor import Supervisor
from shared.contracts import boundary
from shared.contracts.catalog import Cloud
from shared.contracts.rpc import HandedJob
from shared.envvars import Env
from shared.mongo import connect, settings_of
from shared.workertoken import tokens_or_none

WORKER_CMD_ENV = "CYCLONE_LOCAL_WORKER_CMD"
FORK_SERVER_ENV = "CYCLONE_FORK_SERVER"


class CloudParts(SharedExtension):
    """The Mongo client, the stores, the supervisor and the catalog of one container."""

    def setup(self) -> None:
        # The job sent with a start is checked where it arrives (service.start_worker): its
        # checker, about 45 ms to build, is built now rather than on the first record's way.
        boundary.prepare(HandedJob)
        settings = settings_of(self.container)
        command = domain.parse_command(os.environ.get(WORKER_CMD_ENV, "")) or DEFAULT_COMMAND
        self.client = connect(settings)
        database = self.client[settings.mongo_db]
        workers = WorkerStore(database)
        workers.ensure_indexes()
        clouds = CloudStore(database)
        clouds.ensure_indexes()
        self.fork_server: ForkServer | None = None
        if command == DEFAULT_COMMAND and Env().flag(FORK_SERVER_ENV, True):
            workspaces = settings.workspaces or settings.data_dir / "workspaces"
            self.fork_server = ForkServer(command, host_env(os.environ), workspaces)

        def stored(name: str) -> Cloud | None:
            return cast("Cloud | None", clouds.find(name))

        def unsealed(cloud: Cloud) -> Cloud:
            return self.catalog.unsealed(cloud)

        context = DriverContext(
            data_dir=settings.data_dir,
            amqp_uri=settings.amqp_uri,
            # Each replica adopts, after a restart, only the workers it started itself.
            host=domain.replica_host(socket.gethostname(), settings.replica),
            tokens=tokens_or_none(settings.secret_key),  # each worker proves its record
            environ=dict(os.environ),
            workspaces=settings.workspaces,
            command=command,
            find=stored,
            # Drivers that need secrets (Kubernetes) read their cloud decrypted at each use.
            unseal=unsealed,
            fork_server=self.fork_server,
        )
        # Every backend's factory of drivers, made once (settings are checked now).
        factories = backends.factories(context)
        local = backends.BACKENDS["Local"].kind
        self.supervisor = Supervisor(
            [factories[local](domain.LOCAL)],
            workers,
            host=context.host,
            factories=factories,
            lookup=clouds.find,
        )
        self.catalog = CloudCatalog(clouds, self.supervisor, settings.secret_key)
        # Before any entrypoint starts, so no start_worker or tick sees a half-known state.
        self.supervisor.resume()
        # Clouds whose backend asks for it (Docker) get their drivers now, so their first
        # poll sweeps what a crash left.
        for cloud in clouds.list():
            backend = backends.backend_of(cloud.get("type"))
            if backend is not None and backend.serve_at_start:
                self.supervisor.serve(str(cloud["name"]), backend.kind)

    def start(self) -> None:
        if self.fork_server is not None:
            self.fork_server.start()

    def stop(self) -> None:
        self.supervisor.close()  # spare builders go; workers keep running
        if self.fork_server is not None:
            self.fork_server.close()  # it reaps its workers, then exits by itself
        self.client.close()  # workers keep running; the next start adopts them

    def kill(self) -> None:
        self.stop()


class Workers(DependencyProvider):
    parts = CloudParts()

    def get_dependency(self, worker_ctx: Any) -> Supervisor:
        return self.parts.supervisor


class Clouds(DependencyProvider):
    parts = CloudParts()

    def get_dependency(self, worker_ctx: Any) -> CloudCatalog:
        return self.parts.catalog
