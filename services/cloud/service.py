"""nameko entrypoints of the cloud service; each delegates to domain code in a line or two."""

from nameko.events import EventDispatcher
from nameko.timer import timer

from services.cloud.dependencies import Clouds, Workers
from services.cloud.domain import InvalidRecordId
from shared.contracts import services
from shared.contracts.boundary import check
from shared.contracts.catalog import Cloud
from shared.contracts.errors import EXPECTED
from shared.contracts.events import RECORDS_DELETED, WORKER_EXITED, RecordsDeleted
from shared.contracts.rpc import HandedJob, PingResult, Placement, WorkerInfo
from shared.ping import PingMixin
from shared.redelivery import event_handler
from shared.rpcqueue import rpc

POLL_INTERVAL = 0.5  # seconds between checks for ended workers
CALLER_ERRORS = (*EXPECTED, InvalidRecordId)  # logged as warnings: the caller erred


class CloudService(PingMixin):
    """Owns clouds: stores them, pings them, and launches, watches and stops workers through
    the drivers of their backends (Local, Docker, Kubernetes: services/cloud/backends).

    Publishes `cloud.worker_exited` once for every worker that ends, however it ends.
    """

    name = services.CLOUD  # also the source of the events we dispatch
    workers = Workers()
    clouds = Clouds()
    dispatch = EventDispatcher()

    # --- clouds ---------------------------------------------------------------------------

    @rpc(expected_exceptions=CALLER_ERRORS)
    def create_cloud(self, doc: Cloud) -> Cloud:
        return self.clouds.create(check(Cloud, doc, "create_cloud document"))

    @rpc(expected_exceptions=CALLER_ERRORS)
    def get_cloud(self, name: str) -> Cloud:
        return self.clouds.get(name)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def list_clouds(self) -> list[Cloud]:
        return self.clouds.list()

    @rpc(expected_exceptions=CALLER_ERRORS)
    def replace_cloud(self, name: str, doc: Cloud) -> Cloud:
        return self.clouds.replace(name, check(Cloud, doc, "replace_cloud document"))

    @rpc(expected_exceptions=CALLER_ERRORS)
    def delete_cloud(self, name: str) -> None:
        self.clouds.delete(name)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def ping_cloud(self, name: str) -> PingResult:
        return self.clouds.ping(name)

    # --- workers --------------------------------------------------------------------------

    @rpc(expected_exceptions=CALLER_ERRORS)
    def start_worker(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        job: HandedJob | None = None,
    ) -> WorkerInfo:
        handed = None if job is None else check(HandedJob, job, "start_worker job")
        return self.workers.start(record_id, project, pipeline, placement, handed)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def stop_worker(self, record_id: str) -> bool:
        return self.workers.stop(record_id)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def list_workers(self, cloud: str | None = None) -> list[WorkerInfo]:
        return self.workers.list(cloud)

    @timer(interval=POLL_INTERVAL)
    def watch_workers(self) -> None:
        self.workers.report_exits(lambda payload: self.dispatch(WORKER_EXITED[1], payload))

    # Idempotent: discarding a worker or workspace that is gone does nothing.
    @event_handler(*RECORDS_DELETED)
    def records_deleted(self, payload: RecordsDeleted) -> None:
        self.workers.discard(payload["record_ids"])
