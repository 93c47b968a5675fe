"""The `Workers` dependency: one Supervisor per container, built from the CYCLONE_* settings.

`CYCLONE_LOCAL_WORKER_CMD` (test/dev hook): a JSON list replacing the Local driver's worker
command `[python, "-m", "services.worker"]`; `--record-id <id>` is still appended, so e.g.
`["sh", "-c", "sleep 30"]` runs a stand-in. Leave it unset in real deployments.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from nameko.extensions import DependencyProvider

from services.cloud import domain
from services.cloud.drivers.local import DEFAULT_COMMAND, LocalDriver
from services.cloud.store import WorkerStore
from services.cloud.supervisor import Supervisor
from shared.mongo import connect, settings_of

WORKER_CMD_ENV = "CYCLONE_LOCAL_WORKER_CMD"


class Workers(DependencyProvider):
    def setup(self) -> None:
        settings = settings_of(self.container)
        command = domain.parse_command(os.environ.get(WORKER_CMD_ENV, "")) or DEFAULT_COMMAND
        self.client = connect(settings)
        store = WorkerStore(self.client[settings.mongo_db])
        store.ensure_indexes()
        local = LocalDriver(settings.data_dir, settings.amqp_uri, command)
        self.supervisor = Supervisor([local], store, host=socket.gethostname())
        # Before any entrypoint starts, so no start_worker or tick sees a half-known state.
        self.supervisor.resume()

    def stop(self) -> None:
        self.client.close()  # workers keep running; the next start adopts them

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx: Any) -> Supervisor:
        return self.supervisor
