"""nameko entrypoints of the scheduler; each delegates to `Runs` (runs.py) in a line or two."""

from __future__ import annotations

from typing import Any

from nameko.events import EventDispatcher
from nameko.rpc import RpcProxy
from nameko.timer import timer

from services.scheduler.dependencies import RunsParts, RunsProvider
from services.scheduler.runs import Runs
from shared.contracts import errors, events, services
from shared.ping import PingMixin
from shared.redelivery import event_handler
from shared.rpcqueue import rpc

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
    def create_record(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._runs().create(request)

    @rpc(expected_exceptions=EXPECTED)
    def get_record(self, record_id: str) -> dict[str, Any]:
        return self._runs().get(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def list_records(self, pipeline_id: str, start: int, limit: int) -> dict[str, Any]:
        return self._runs().page(pipeline_id, start, limit)

    @rpc(expected_exceptions=EXPECTED)
    def delete_record(self, record_id: str) -> None:
        self._runs().delete(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def abort_record(self, record_id: str) -> dict[str, Any]:
        return self._runs().abort(record_id)

    @rpc(expected_exceptions=EXPECTED)
    def recent_records(self, pipeline_ids: list[str], counts: dict[str, int]) -> dict[str, Any]:
        return self._runs().recent(pipeline_ids, counts)

    @rpc(expected_exceptions=EXPECTED)
    def stats(self, scope: str, scope_id: str, start: int, end: int) -> dict[str, Any]:
        return self._runs().stats(scope, scope_id, start, end)

    @rpc(expected_exceptions=EXPECTED)
    def rerun_record(
        self, record_id: str, start_from: str, project: dict[str, Any], owner: str
    ) -> dict[str, Any]:
        return self._runs().rerun(record_id, start_from, project, owner)

    @rpc(expected_exceptions=EXPECTED)
    def get_job(self, record_id: str, token: str = "") -> dict[str, Any]:
        return self._runs().job(record_id, token)

    # --- events ---------------------------------------------------------------------------
    # Each handler is retried after a failure and may see a message twice (shared/redelivery);
    # each is idempotent: the worker's reports move a record or a stage only forward, from
    # the state they name (conditional updates), so a repeated or late one changes nothing;
    # a worker's exit ends a record only while it is not final; deletions delete what is
    # left; saves replace the pipeline's cron triggers or the project's copy whole, and a
    # pipeline's save older than the last applied, or of a deleted pipeline, changes nothing.

    @event_handler(*events.STAGE_STARTED)
    def handle_stage_started(self, payload: dict[str, Any]) -> None:
        self._runs().worker_report("stage_started", payload)

    @event_handler(*events.STAGE_FINISHED)
    def handle_stage_finished(self, payload: dict[str, Any]) -> None:
        self._runs().worker_report("stage_finished", payload)

    @event_handler(*events.RUN_FINISHED)
    def handle_run_finished(self, payload: dict[str, Any]) -> None:
        self._runs().worker_report("run_finished", payload)

    @event_handler(*events.HEARTBEAT)
    def handle_heartbeat(self, payload: dict[str, Any]) -> None:
        self._runs().worker_report("heartbeat", payload)

    @event_handler(*events.WORKER_EXITED)
    def handle_worker_exited(self, payload: dict[str, Any]) -> None:
        self._runs().worker_exited(payload)

    @event_handler(*events.PIPELINE_DELETED)
    def handle_pipeline_deleted(self, payload: dict[str, Any]) -> None:
        self._runs().catalog_deleted([payload["pipeline_id"]])

    @event_handler(*events.PIPELINE_SAVED)
    def handle_pipeline_saved(self, payload: dict[str, Any]) -> None:
        self._runs().pipeline_saved(payload)

    @event_handler(*events.PROJECT_SAVED)
    def handle_project_saved(self, payload: dict[str, Any]) -> None:
        self._runs().project_saved(payload)

    @event_handler(*events.PROJECT_DELETED)
    def handle_project_deleted(self, payload: dict[str, Any]) -> None:
        self._runs().catalog_deleted(payload["pipeline_ids"])

    # --- upkeep ---------------------------------------------------------------------------

    @timer(interval=1)
    def reap(self) -> None:
        """Faults and timeouts, due cron ticks, stale slots, Pending records after a restart."""
        self._runs().reap()

    @timer(interval=5)
    def report_gauges(self) -> None:
        self._runs().report_gauges()
