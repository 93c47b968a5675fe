"""The service's dependencies, built once per container from the CYCLONE_* settings.

`Workers` hands entrypoints the Supervisor, `Clouds` the CloudCatalog; both come from one
`CloudParts` (a nameko SharedExtension), so they share one Mongo client and one supervisor
(a cloud is only deleted while the supervisor starts nothing in it).

`CYCLONE_LOCAL_WORKER_CMD` (test/dev hook): a JSON list replacing the Local driver's worker
command `[python, "-m", "services.worker"]`; `--record-id <id>` is still appended, so e.g.
`["sh", "-c", "sleep 30"]` runs a stand-in. Leave it unset in real deployments.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from nameko.extensions import DependencyProvider, SharedExtension

from services.cloud import domain
from services.cloud.clouds import CloudCatalog
from services.cloud.drivers import kubernetes
from services.cloud.drivers.docker import DockerDriver
from services.cloud.drivers.local import DEFAULT_COMMAND, LocalDriver, build_user_of
from services.cloud.store import CloudStore, WorkerStore
from services.cloud.supervisor import Supervisor
from shared import dockerengine
from shared.mongo import connect, settings_of
from shared.workertoken import tokens_or_none

WORKER_CMD_ENV = "CYCLONE_LOCAL_WORKER_CMD"


class CloudParts(SharedExtension):
    """The Mongo client, the stores, the supervisor and the catalog of one container."""

    def setup(self) -> None:
        settings = settings_of(self.container)
        command = domain.parse_command(os.environ.get(WORKER_CMD_ENV, "")) or DEFAULT_COMMAND
        self.client = connect(settings)
        database = self.client[settings.mongo_db]
        workers = WorkerStore(database)
        workers.ensure_indexes()
        clouds = CloudStore(database)
        clouds.ensure_indexes()

        # Each replica adopts, after a restart, only the workers it started itself.
        host = domain.replica_host(socket.gethostname(), settings.replica)
        tokens = tokens_or_none(settings.secret_key)  # each worker proves its record with one
        build_user = build_user_of(os.environ)  # Local builds never run as the services' user

        engine = dockerengine.section_from_env(os.environ)

        def local(cloud: str) -> LocalDriver:
            if engine is not None:  # image stages on that engine: clean up after them too
                return DockerDriver(
                    settings.data_dir,
                    settings.amqp_uri,
                    command,
                    cloud=cloud,
                    section=lambda: engine,
                    host=host,
                    kind=domain.LOCAL,
                    commands_in_engine=False,
                    tokens=tokens,
                    build_user=build_user,
                    workspaces=settings.workspaces,
                )
            return LocalDriver(
                settings.data_dir,
                settings.amqp_uri,
                command,
                cloud=cloud,
                tokens=tokens,
                build_user=build_user,
                workspaces=settings.workspaces,
            )

        def docker(cloud: str) -> DockerDriver:
            def section() -> dict[str, Any]:
                return dict(((clouds.find(cloud) or {}).get("docker")) or {})

            return DockerDriver(
                settings.data_dir,
                settings.amqp_uri,
                command,
                cloud=cloud,
                section=section,
                host=host,
                tokens=tokens,
                workspaces=settings.workspaces,
            )

        # Kubernetes drivers read their cloud, secrets decrypted, whenever they use it.
        k8s = kubernetes.factory(
            clouds.find, lambda doc: self.catalog.unsealed(doc), settings.amqp_uri, tokens=tokens
        )
        self.supervisor = Supervisor(
            [local(domain.LOCAL)],
            workers,
            host=host,
            factories={domain.LOCAL: local, domain.DOCKER: docker, domain.KUBERNETES: k8s},
            lookup=clouds.find,
        )
        self.catalog = CloudCatalog(clouds, self.supervisor, settings.secret_key)
        # Before any entrypoint starts, so no start_worker or tick sees a half-known state.
        self.supervisor.resume()
        # Every Docker cloud gets its driver now, so its first poll sweeps what a crash left.
        for stored in clouds.list():
            if stored.get("type") == "Docker":
                self.supervisor.serve(str(stored["name"]), domain.DOCKER)

    def stop(self) -> None:
        self.client.close()  # workers keep running; the next start adopts them

    def kill(self) -> None:
        self.client.close()


class Workers(DependencyProvider):
    parts = CloudParts()

    def get_dependency(self, worker_ctx: Any) -> Supervisor:
        return self.parts.supervisor


class Clouds(DependencyProvider):
    parts = CloudParts()

    def get_dependency(self, worker_ctx: Any) -> CloudCatalog:
        return self.parts.catalog
