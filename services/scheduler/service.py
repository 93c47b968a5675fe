"""nameko entrypoints of the scheduler; each delegates to `Runs` (runs.py) in a line or two."""

from __future__ import annotations

from nameko.events import EventDispatcher
from nameko.timer import timer

from services.scheduler.dependencies import RunsParts, RunsProvider
from services.scheduler.runs import Runs
from shared.contracts import boundary, catalog, errors, events, services
from shared.contracts.records import RecordView, Stats
from shared.contracts.rpc import Job, Page, RecordRequest
from shared.ping import PingMixin
from shared.redelivery import event_handler
from shared.rpcqueue import rpc
from shared.rpcreply import RpcProxy

EXPECTED = errors.EXPECTED


class SchedulerService(PingMixin):
    """Owns records: queue and dispatch under a global limit, worker reports, faults, stats."""

    name = services.SCHEDULER

    parts: RunsParts = RunsProvider()
    cloud_rpc = RpcProxy(services.CLOUD)
    dispatch = EventDispatcher()

    def _runs(self) -> Runs:
        return self.parts.build(self.cloud_rpc, self.dispatch)

    # --- RPC (the gateway; workers ask for their job) ----------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def create_record(self, request: RecordRequest) -> RecordView:
        checked = boundary.check(RecordRequest, request, "create_record request")
        return self._runs().create(checked)

    @rpc(expected_exceptions=EXPECTED)
    def get_record(self, record_id: str) -> RecordView:
        return self._runs().get(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_records(self, pipeline_id: str, start: int, limit: int) -> Page:
        return self._runs().page(pipeline_id, start, limit)

    @rpc(expected_exceptions=EXPECTED)
    def delete_record(self, record_id: str) -> None:
        self._runs().delete(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def abort_record(self, record_id: str) -> RecordView:
        return self._runs().abort(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def recent_records(
        self, pipeline_ids: list[str], counts: dict[str, int]
    ) -> dict[str, dict[str, list[RecordView]]]:
        return self._runs().recent(pipeline_ids, counts)

    @rpc(expected_exceptions=EXPECTED)
    def stats(self, scope: str, scope_id: str, start: int, end: int) -> Stats:
        return self._runs().stats(scope, scope_id, start, end)

    @rpc(expected_exceptions=EXPECTED)
    def rerun_record(
        self, record_id: str, start_from: str, project: catalog.Project, owner: str
    ) -> RecordView:
        checked = boundary.check(catalog.Project, project, "rerun_record project")
        return self._runs().rerun(record_id, start_from, checked, owner)

    @rpc(expected_exceptions=EXPECTED)
    def get_job(self, record_id: str, token: str) -> Job:
        return self._runs().job(record_id, token)

    # --- events ---------------------------------------------------------------------------
    # Each handler is retried after a failure and may see a message twice (shared/redelivery);
    # each is idempotent: the worker's reports move a record or a stage only forward, from
    # the state they name (conditional updates), so a repeated or late one changes nothing;
    # a worker's exit ends a record only while it is not final; deletions delete what is
    # left; saves replace the pipeline's cron triggers or the project's copy whole, and a
    # pipeline's save older than the last applied, or of a deleted pipeline, changes nothing.

    @event_handler(*events.STAGE_STARTED)
    def handle_stage_started(self, payload: events.StageStarted) -> None:
        self._runs().worker_report("stage_started", payload)

    @event_handler(*events.STAGE_FINISHED)
    def handle_stage_finished(self, payload: events.StageFinished) -> None:
        self._runs().worker_report("stage_finished", payload)

    @event_handler(*events.RUN_FINISHED)
    def handle_run_finished(self, payload: events.RunFinished) -> None:
        self._runs().worker_report("run_finished", payload)

    @event_handler(*events.HEARTBEAT)
    def handle_heartbeat(self, payload: events.Heartbeat) -> None:
        self._runs().worker_report("heartbeat", payload)

    @event_handler(*events.WORKER_EXITED)
    def handle_worker_exited(self, payload: events.WorkerExited) -> None:
        self._runs().worker_exited(payload)

    @event_handler(*events.PIPELINE_DELETED)
    def handle_pipeline_deleted(self, payload: events.PipelineDeleted) -> None:
        self._runs().catalog_deleted([payload["pipeline_id"]])

    @event_handler(*events.PIPELINE_SAVED)
    def handle_pipeline_saved(self, payload: events.PipelineSaved) -> None:
        self._runs().pipeline_saved(payload)

    @event_handler(*events.PROJECT_SAVED)
    def handle_project_saved(self, payload: events.ProjectSaved) -> None:
        self._runs().project_saved(payload)

    @event_handler(*events.PROJECT_DELETED)
    def handle_project_deleted(self, payload: events.ProjectDeleted) -> None:
        self._runs().catalog_deleted(payload["pipeline_ids"])

    # --- upkeep ---------------------------------------------------------------------------

    @timer(interval=1)
    def reap(self) -> None:
        """Faults and timeouts, due cron ticks, stale slots, Pending records after a restart."""
        self._runs().reap()

    @timer(interval=5)
    def report_gauges(self) -> None:
        self._runs().report_gauges()
