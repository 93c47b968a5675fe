"""nameko entrypoints of the cloud service; each delegates to domain code in a line or two."""

from nameko.events import EventDispatcher, event_handler
from nameko.rpc import rpc
from nameko.timer import timer

from services.cloud.dependencies import Workers
from services.cloud.domain import CloudNotFound, InvalidRecordId
from shared.contracts import services
from shared.contracts.events import RECORDS_DELETED, WORKER_EXITED, RecordsDeleted
from shared.contracts.rpc import Placement, WorkerInfo
from shared.ping import PingMixin

POLL_INTERVAL = 0.5  # seconds between checks for ended workers
CALLER_ERRORS = (CloudNotFound, InvalidRecordId)  # logged as warnings: the caller erred


class CloudService(PingMixin):
    """Owns clouds: launches, watches and stops workers through drivers (Local for now).

    Publishes `cloud.worker_exited` once for every worker that ends, however it ends.
    """

    name = services.CLOUD  # also the source of the events we dispatch
    workers = Workers()
    dispatch = EventDispatcher()

    @rpc(expected_exceptions=CALLER_ERRORS)
    def start_worker(
        self, record_id: str, project: str, pipeline: str, placement: Placement
    ) -> WorkerInfo:
        return self.workers.start(record_id, project, pipeline, placement)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def stop_worker(self, record_id: str) -> bool:
        return self.workers.stop(record_id)

    @rpc(expected_exceptions=CALLER_ERRORS)
    def list_workers(self, cloud: str | None = None) -> list[WorkerInfo]:
        return self.workers.list(cloud)

    @timer(interval=POLL_INTERVAL)
    def watch_workers(self) -> None:
        self.workers.report_exits(lambda payload: self.dispatch(WORKER_EXITED[1], payload))

    @event_handler(*RECORDS_DELETED)
    def records_deleted(self, payload: RecordsDeleted) -> None:
        self.workers.discard(payload["record_ids"])
