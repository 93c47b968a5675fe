"""What the scheduler does with records, independent of nameko's entrypoints.

`Runs` holds the store, a way to reach the cloud service and a way to publish events; the
service class (service.py) only forwards calls and events here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from services.scheduler.counters import StatsCounters
from services.scheduler.cron_store import CronStore
from services.scheduler.documents import (
    CronTrigger,
    JobSource,
    Launchable,
    NewRecord,
    RecordDoc,
    RecordKeys,
)
from services.scheduler.domain import cron, stats
from services.scheduler.domain import records as rec
from services.scheduler.store import RecordStore
from shared import logsetup, metrics, timefmt
from shared.contracts import artifacts as art
from shared.contracts import events
from shared.contracts.catalog import Project
from shared.contracts.errors import CapacityExceeded, Conflict, InvalidRequest, Unauthorized
from shared.contracts.records import (
    ACTIVE,
    STAGE_DETAILS,
    TERMINAL,
    RecordStatus,
    RecordView,
    StageState,
    Stats,
)
from shared.contracts.rpc import HandedJob, Job, Page, Placement, RecordRequest, WorkerInfo
from shared.crypto import SecretBox, decrypt_all
from shared.workertoken import FIELD as TOKEN_FIELD
from shared.workertoken import WorkerTokens

log = logging.getLogger(__name__)

EXIT_GRACE = timedelta(seconds=3)  # a worker's own last events may trail its exit
# A worker that exited 0 sent its run report first; a report that failed to apply (the
# database away) is tried again after 1, 2, 4, 8 s (shared/redelivery): wait for it.
CLEAN_EXIT_GRACE = timedelta(seconds=20)
AFTER_END_GRACE = timedelta(seconds=5)  # an ending still in progress is not taken over
CAPACITY_RETRY = timedelta(seconds=2)  # a record whose cloud had no room waits this long


class CallCut(Exception):
    """The broker connection of a call to the cloud service broke (a node lost, a restart):
    the call may or may not have reached it, and its answer is lost."""


# A start still unanswered this long after the cloud call's own deadline was lost with the
# replica that made it, or with the broker connection that carried it (CallCut): another
# try (the cloud answers the worker it has, if any).
RELAUNCH_AFTER = timedelta(seconds=5)

# Publishes an event of the scheduler's: its type and payload (nameko's EventDispatcher).
Publish = Callable[[str, Mapping[str, object]], None]
# What a worker reports (each with its record's worker token).
WorkerReport = events.StageStarted | events.StageFinished | events.RunFinished | events.Heartbeat


@dataclass(frozen=True)
class Limits:
    max_running: int
    record_timeout: int
    records_per_pipeline: int
    heartbeat_timeout: float = events.HEARTBEAT_TIMEOUT
    cron_per_second: bool = False  # test clock: see domain/cron.py
    # A worker's first heartbeat may take long (a pod pulling its images): until it comes,
    # a record is lost only after this many seconds (or when the cloud sees the worker end).
    start_timeout: float = 300.0
    # How long a call to the cloud service may take before the record's start is given up
    # (the call runs apart, see Cloud: neither a POST nor the upkeep timer waits for it).
    cloud_call_timeout: float = 8.0


class Cloud:
    """The calls the scheduler makes to the cloud service, and where they run.

    `spawn` runs a call apart from its caller (a green thread the service keeps): a start or a
    stop waits on another service, up to `cloud_call_timeout`, and neither the upkeep timer
    nor a POST may wait with it. Without it (tests of `Runs` alone) calls run in line.
    """

    def __init__(
        self,
        start: Callable[[str, str, str, Placement, HandedJob | None], WorkerInfo],
        stop: Callable[[str], object],
        spawn: Callable[[Callable[[], object]], None] | None = None,
    ) -> None:
        self.start = start
        self.stop = stop
        self.spawn = spawn or (lambda call: call())


def traced(doc: NewRecord) -> NewRecord:
    """A new record with the request id of the call making it, kept for its launch: the
    pass that starts it may run for another caller (the upkeep, a record's end)."""
    request_id = logsetup.REQUEST_ID.get()
    return {**doc, "requestId": request_id} if request_id else doc


class OneAtATime:
    """Runs one pass at a time: a caller waits for the pass under way, then runs its own.
    Reentrant: a pass may end a record and so dispatch again (in line when the cloud calls
    run in line)."""

    def __init__(self) -> None:
        self._turn = threading.RLock()  # green under eventlet's monkey patching

    def __call__(self, one_pass: Callable[[], int]) -> int:
        with self._turn:
            return one_pass()


class Runs:
    def __init__(
        self,
        store: RecordStore,
        cloud: Cloud,
        publish: Publish,
        limits: Limits,
        box: SecretBox | None,
        crons: CronStore,
        counters: StatsCounters,
        clock: Callable[[], datetime] = timefmt.now,
        tokens: WorkerTokens | None = None,
        one_dispatch: OneAtATime | None = None,
    ) -> None:
        self.tokens = tokens
        self.crons = crons
        self.counters = counters
        self.store = store
        self.cloud = cloud
        self.publish = publish
        self.limits = limits
        self.box = box
        self.clock = clock
        self.one_dispatch = one_dispatch or OneAtATime()  # shared by a replica's workers

    # --- API ------------------------------------------------------------------------------

    def create(self, request: RecordRequest) -> RecordView:
        if request.get("key") and request.get("key_given"):
            made = self.store.by_request_key(request["key"])
            if made is not None:  # this request again: its first delivery made the record
                return rec.view(made)
        defined = request["pipeline"].get("build", {}).get("stages", {})
        try:
            stages = rec.stages_to_run(request["params"].get("stages"), defined)
        except rec.StageSelectionError as exc:
            raise InvalidRequest(str(exc)) from exc
        fresh = rec.new_record(request, stages, self.clock(), self.limits.record_timeout)
        doc, stored = self.store.insert(traced(fresh))
        if not stored:  # another delivery of this request stored its record first
            return rec.view(doc)
        with logsetup.bound(record_id=str(doc["_id"])):
            log.info(
                "record created for %s/%s: ref %s, stages %s",
                doc["projectName"],
                doc["pipelineName"],
                request["params"].get("ref"),
                ", ".join(stages),
            )
        return self._queued(doc)

    def _queued(self, doc: RecordDoc) -> RecordView:
        """A record just stored, counted and dispatched apart from the answer (as the cloud
        calls are): a POST waits for its own insert, not for the count's write or the slot
        claims of a dispatch, which queue behind the running records' writes when the
        database is busy (bench.runs: a POST under load waits for every write on its way).
        It is answered Pending and starts at once when a slot is free. The count is written
        after the dispatch pass, in the same green thread: beside it, its write slowed each
        of the pass's four commands (bench.runs, the pass of 30 records one after another:
        median 10-13 ms with the count beside it, 9 ms after it). Counters only add, so a
        record that ends first is still counted right."""
        metrics.RECORDS_CREATED.labels(doc.get("trigger") or "user").inc()

        def dispatch_then_count() -> None:
            try:
                self.dispatch()
            finally:  # counted whether the pass went well or not
                try:
                    self.counters.created(doc)
                except Exception:  # the database away: the record runs anyway, uncounted
                    log.exception("could not count the new record %s", doc["_id"])

        self.cloud.spawn(dispatch_then_count)
        return rec.view(doc)

    def get(self, record_id: str) -> RecordView:
        return rec.view(self.store.get(record_id))

    def rerun(self, record_id: str, start_from: str, project: Project, owner: str) -> RecordView:
        """A new record running `record_id` again at the same commits (see rec.rerun_record)."""
        original = self.store.get(record_id)
        if start_from not in rec.RERUN_FROM:
            raise InvalidRequest(f"from must be one of {list(rec.RERUN_FROM)}")
        try:
            new = rec.rerun_record(
                original,
                start_from,
                project,
                owner,
                self.clock(),
                original.get("timeoutSeconds", self.limits.record_timeout),
            )
        except rec.RerunRefused as exc:
            raise Conflict(str(exc)) from exc
        doc, _ = self.store.insert(traced(new))  # no request key: always stored
        return self._queued(doc)

    def page(self, pipeline_id: str, start: int, limit: int) -> Page:
        total, docs = self.store.page(pipeline_id, start, limit)
        return {"total": total, "items": [rec.view(d) for d in docs]}

    def recent(
        self, pipeline_ids: list[str], counts: dict[str, int]
    ) -> dict[str, dict[str, list[RecordView]]]:
        status_of: dict[str, RecordStatus | None] = {
            "recentRecords": None,
            "recentSuccessRecords": RecordStatus.SUCCESS,
            "recentFailedRecords": RecordStatus.FAILED,
        }
        return {
            pid: {
                field: [rec.view(d) for d in self.store.recent(pid, status_of[field], n)]
                if n > 0
                else []
                for field, n in counts.items()
                if field in status_of
            }
            for pid in pipeline_ids
        }

    def abort(self, record_id: str) -> RecordView:
        doc = self.store.get(record_id)
        if doc["status"] not in ACTIVE:
            raise Conflict(
                f"record {record_id} is {doc['status']}; only Pending or Running records "
                "can be aborted"
            )
        self._end(record_id, RecordStatus.ABORTED, "aborted by user", ACTIVE)
        return rec.view(self.store.get(record_id))

    def delete(self, record_id: str) -> None:
        doc = self.store.get(record_id)
        self._remove([doc])

    def stats(self, scope: str, scope_id: str, start: int, end: int) -> Stats:
        if scope not in ("projectID", "pipelineID"):
            raise InvalidRequest(f"unknown stats scope {scope}")
        if start < 0 or end < start:
            raise InvalidRequest("startTime and endTime must be unix seconds, start <= end")
        days = stats.day_buckets(start, end)
        counts = self.counters.day_counts(scope, scope_id, days[0], days[-1])
        return stats.build(start, end, counts)

    def job(self, record_id: str, token: str) -> Job:
        """The record's job, secrets decrypted: only for the worker launched for it."""
        if not self.from_its_worker(record_id, token):
            raise Unauthorized(f"no valid worker token for record {record_id}")
        doc = self.store.running_doc(record_id)
        if doc is None:
            status = self.store.get(record_id)["status"]
            raise Conflict(f"record {record_id} is {status}, not Running")
        # No beat is stored here: the worker's first report, its first stage's start a few
        # ms after this answer, is its first sign of life, as every stage report is (the
        # store sets `heartbeatAt` in the same update); its own beats come an interval
        # later (services/worker/main.py). A write of a record fewer per run.
        return self.job_of(doc)

    def job_of(self, doc: JobSource) -> Job:
        """The job of a Running record: its snapshot with the secrets decrypted (withheld
        from an untrusted record), and a rerun's reused stages and restores."""
        record_id = str(doc["_id"])
        snapshot = rec.for_worker(doc["snapshot"])
        withheld: list[str] = []
        if doc.get("untrusted"):  # a fork's pull request: no secret leaves sealed storage
            snapshot, withheld = rec.withhold_secrets(snapshot)
        if self.box is not None:
            snapshot = decrypt_all(snapshot, self.box)  # sealed strings decrypted
        job: Job = {
            "record_id": record_id,
            "record_name": doc.get("name", ""),
            "project": snapshot["project"],
            "pipeline": snapshot["pipeline"],
            "params": doc["performParams"],
            "stages": doc["stages"],
            "end_takes_stage": True,  # run_finished applies `stage`
            "start_takes_stage": True,  # stage_started applies `previous`
        }
        if doc.get("untrusted"):
            job["untrusted"], job["withheld"] = doc["untrusted"], withheld
        if doc.get("rerunOf"):
            reused = doc.get("reused", [])
            job["stages"] = [s for s in doc["stages"] if s not in reused]
            job["reused"] = list(reused)
            job["pin"] = doc.get("pin", {}).copy()
            job["restore"] = [
                art.Restore(
                    stage=r["stage"],
                    record=r["record"],
                    paths=list(r["paths"]),
                    grant=self.tokens.read_grant(r["record"], record_id),
                )
                for r in doc.get("restore", [])
                if self.tokens is not None
            ]
        return job

    # --- dispatch ---------------------------------------------------------------------------

    def dispatch(self) -> int:
        """Start Pending records, oldest first, while a dispatch slot is free.

        One pass at a time per replica: concurrent passes raced for the same slots and the
        same oldest record, each lost try a write. Replicas still race, safely, through the
        slots' claims."""
        return self.one_dispatch(self._dispatch_pass)

    def _dispatch_pass(self) -> int:
        """Free slots are read before the oldest Pending record, not after: under load most
        passes (one per POST and per end) find every slot held, and then read nothing else
        (bench.runs: two reads of the Pending records per record saved, each queued behind
        the running records' writes)."""
        started = skipped = 0
        free: list[int] = []
        while True:
            free = free or self.store.free_slots()
            if not free:
                return started
            candidate = self.store.oldest_pending(skip=skipped)
            if candidate is None:
                return started
            record_id = str(candidate["_id"])
            if candidate.get("retryAt") and candidate["retryAt"] > self.clock():
                skipped += 1  # its cloud had no room a moment ago (see _launch)
                continue
            slot = self.store.claim_slot(record_id, self.clock(), free)
            if slot is None:
                return started
            free = [f for f in free if f != slot]  # maybe stale: the next claim reads again
            timeout = candidate.get("timeoutSeconds", self.limits.record_timeout)
            if not self.store.mark_dispatched(
                record_id, slot, self.clock(), timeout, self.limits.start_timeout
            ):  # another replica took it, or it was aborted meanwhile
                self.store.release_slot(record_id)
                continue  # it left the Pending list: the same skip finds the next one
            self._spawn_launch(candidate)
            started += 1

    def _spawn_launch(self, doc: Launchable) -> None:
        """Start the record's worker apart (Cloud.spawn), not in the caller's green thread."""
        self.cloud.spawn(lambda: self._launch(doc))

    def _launch(self, doc: Launchable) -> None:
        """Start the worker of a record just marked Running. When the cloud has no room now,
        the record is Pending again until CAPACITY_RETRY has passed (dispatch skips it until
        then); any other failure fails the record. Runs apart (Cloud.spawn): never raises."""
        try:
            self._start_worker(doc)
        except Exception:  # the database away: a reaper asks again (claim_relaunch)
            log.exception("launching the worker of %s failed", doc["_id"])

    def _start_worker(self, doc: Launchable) -> None:
        record_id = str(doc["_id"])
        worker = doc["snapshot"]["project"].get("worker", {})
        placement: Placement = {**worker.get("location", {})}
        quota = worker.get("quota")
        if quota:
            placement["quota"] = quota
        builder = doc["snapshot"]["pipeline"].get("build", {}).get("builderImage", {}).get("image")
        if builder:
            placement["builderImage"] = str(builder)
        cloud = placement.get("cloudName") or "local"
        waited = rec.seconds_pending(doc["startTime"], self.clock())
        if waited is not None:
            metrics.QUEUE_WAIT.observe(waited)
        # the record's own ids, whichever caller's pass started it (the upkeep's, another
        # record's end): its log lines and its call to the cloud carry them
        ids = logsetup.bound(record_id=record_id, request_id=doc.get("requestId"))
        try:
            with ids, metrics.DISPATCH.labels(cloud).time():
                log.info("dispatching to cloud %s", cloud)
                # The job goes with the start: a worker the cloud service forks gets it from
                # its hand-off instead of asking get_job (a connection and a round trip on
                # every record's way to its first stage). `sent` bounds its use in time (see
                # HandedJob): a start the cloud service takes up late leaves its worker to
                # ask, and so to be refused once the record has ended.
                handed = HandedJob(job=self.job_of(doc), sent=time.time())
                started = self.cloud.start(
                    record_id, doc["projectName"], doc["pipelineName"], placement, handed
                )
        except CapacityExceeded as exc:
            log.info("no room for the worker of %s yet: %s", record_id, exc)
            self.store.requeue(record_id, str(exc), self.clock() + CAPACITY_RETRY)
            self.store.release_slot(record_id)
            return
        except CallCut as exc:
            # The cut call may have started the worker all the same, and handed it its job:
            # the record stays Running, so that such a worker's reports count, and when no
            # worker shows up the upkeep asks the cloud again (claim_relaunch; a start is
            # idempotent there, across replicas too), as after a replica died mid-call.
            log.warning("the call starting the worker of %s was cut: %r", record_id, exc)
            return
        except Exception as exc:  # noqa: BLE001 - any launch failure fails the record clearly
            log.warning("could not start a worker for %s: %s", record_id, exc)
            # A cloud service that did not answer in time may still start the worker: one it
            # starts late is not handed the job (HandedJob.sent is old by then), asks for it,
            # is refused (the record has ended) and exits. The stop, sent apart all the same,
            # covers a start that judged its job fresh and then took the rest of the deadline.
            why = f"could not start a worker: {exc}"
            self._end(record_id, RecordStatus.FAILED, why, (RecordStatus.RUNNING,))
            return
        if not self.store.set_worker(record_id, started):
            # It ended before the start was answered. After an abort, whose stop may have
            # come before the worker existed, the worker (its job handed) would run the build
            # all the same: it is stopped now. A worker that already ended ignores the stop.
            log.info("%s ended before its worker's start was answered: stopping it", record_id)
            self._stop(record_id, wait=True)

    # --- what workers and the cloud report --------------------------------------------------

    def from_its_worker(self, record_id: object, token: object) -> bool:
        """Whether a report names its record with that record's worker token (see
        shared/workertoken.py); without a secret key nothing can be proven, so nothing is."""
        return self.tokens is not None and self.tokens.valid(record_id, token)

    def worker_report(self, kind: str, payload: WorkerReport) -> None:
        """A stage, run or heartbeat report, applied only when its token is the record's."""
        record_id = payload.get("record_id")
        if not self.from_its_worker(record_id, payload.get(TOKEN_FIELD)):
            log.warning("ignored a %s for %r without its worker token", kind, record_id)
            return
        getattr(self, kind)(payload)

    def stage_started(self, payload: events.StageStarted) -> None:
        previous = payload.get("previous")
        if previous is not None:  # the stage before's end, first, as the worker ran them
            self._carried_end(previous, payload["record_id"], "stage start")
        self.store.stage_started(
            payload["record_id"], payload["stage"], payload["time"], self.clock()
        )

    def _carried_end(self, end: events.StageFinished, record_id: str, carrier: str) -> None:
        """A stage's end that came inside another report of the record (checked by that
        report's token): applied only when it names the same record."""
        if end["record_id"] == record_id:
            self.stage_finished(end)
        else:
            log.warning(
                "ignored the end of stage %r of record %r in the %s of %r",
                end["stage"],
                end["record_id"],
                carrier,
                record_id,
            )

    def stage_finished(self, payload: events.StageFinished) -> None:
        # The contract's details only (a newer worker's other fields are not stored): the
        # keys are StageDetails' own, and StageState is StageDetails and more.
        details = payload.get("details", {})
        fields = cast(StageState, {k: v for k, v in details.items() if k in STAGE_DETAILS})
        if payload.get("error"):
            fields["error"] = payload["error"]
        record_id = payload["record_id"]
        began = self.store.stage_finished(
            record_id,
            payload["stage"],
            payload["status"],
            payload["time"],
            fields,
            self.clock(),
            payload.get("started"),
            payload.get("record_name", ""),
        )
        took = rec.stage_seconds(began, payload["time"])
        if took is not None:
            metrics.STAGE_DURATION.labels(payload["stage"], payload["status"]).observe(took)

    def run_finished(self, payload: events.RunFinished) -> None:
        last = payload.get("stage")
        if last is not None:  # the last stage's end, first: the end settles only the others
            self._carried_end(last, payload["record_id"], "run end")
        status = payload["status"]
        if status not in TERMINAL:
            status = RecordStatus.FAILED
        self._end(
            payload["record_id"],
            status,
            payload.get("error", ""),
            (RecordStatus.RUNNING,),
            extra={"logLines": payload.get("log_lines", 0)},
            stop_worker=False,
            name=payload.get("record_name", ""),
        )

    def heartbeat(self, payload: events.Heartbeat) -> None:
        self.store.heartbeat(payload["record_id"], self.clock())

    def worker_exited(self, payload: events.WorkerExited) -> None:
        clean = payload.get("exit_code") == 0
        self.store.worker_exited(payload["record_id"], payload["reason"], self.clock(), clean)

    def catalog_deleted(self, pipeline_ids: list[str]) -> None:
        self.crons.delete_pipelines(pipeline_ids)
        self._remove(self.store.ids_of_pipelines(pipeline_ids))
        self.counters.forget_pipelines(pipeline_ids)
        self.store.forget_pipelines(pipeline_ids)

    # --- cron triggers ----------------------------------------------------------------------

    def pipeline_saved(self, payload: events.PipelineSaved) -> None:
        now = self.clock()
        pipeline = payload["pipeline"]
        docs: list[CronTrigger] = [
            {
                "_id": f"{payload['pipeline_id']}:{i}",
                "pipelineID": payload["pipeline_id"],
                "projectID": payload["project_id"],
                "expression": entry["expression"],
                "stages": entry.get("stages", []),
                "nextRun": self._next_tick(entry["expression"], now),
                "project": payload["project"],
                "pipeline": pipeline,
            }
            for i, entry in enumerate(cron.triggers_of(pipeline))
        ]
        saved_at = pipeline.get("lastUpdateTime", "")
        if not self.crons.replace_pipeline(payload["pipeline_id"], saved_at, docs):
            log.info(
                "pipeline %s: an older save or a deleted pipeline's, ignored",
                payload["pipeline_id"],
            )

    def project_saved(self, payload: events.ProjectSaved) -> None:
        self.crons.update_project(payload["project_id"], payload["project"])

    def fire_crons(self) -> int:
        """Start one run per due tick; ticks missed while no scheduler ran are not replayed."""
        now, fired, skip = self.clock(), 0, 0
        while (due := self.crons.next_due(now, skip)) is not None:
            if not self.crons.claim(due, self._next_tick(due["expression"], now)):
                skip += 1  # another replica took this tick
                continue
            request: RecordRequest = {
                "project": due["project"],
                "pipeline": due["pipeline"],
                "params": {"ref": "", "stages": due["stages"]},
                "trigger": "cronTrigger",
                "owner": "",
            }
            try:
                self.create(request)
                fired += 1
            except InvalidRequest as exc:
                log.warning("cron trigger %s cannot run: %s", due["_id"], exc)
        return fired

    def _next_tick(self, expression: str, now: datetime) -> datetime:
        return cron.next_run(expression, now, self.limits.cron_per_second)

    # --- keeping records honest -------------------------------------------------------------

    def report_gauges(self) -> None:
        """The queue and what runs, for /metrics (every replica reports the same counts)."""
        for status in (RecordStatus.PENDING, RecordStatus.RUNNING):
            metrics.RECORDS.labels(status).set(self.store.count(status))

    def reap(self) -> None:
        """Fail records whose worker is gone or silent, abort those past their timeout, free
        slots nobody uses, then start what waits."""
        with metrics.UPKEEP.time():
            self._upkeep(self.clock())

    def _upkeep(self, now: datetime) -> None:
        for ended in self.store.after_end_pending(now - AFTER_END_GRACE):
            self._after_end(ended)  # what an ending interrupted by a crash or an outage left
        for doc in self.store.running({"exitedAt": {"$lte": now - EXIT_GRACE}}):
            if doc.get("exitClean") and doc["exitedAt"] > now - CLEAN_EXIT_GRACE:
                continue  # its run report is on its way (retried while the database was away)
            why = f"worker exited unexpectedly ({doc.get('exitReason', 'unknown reason')})"
            self._end(str(doc["_id"]), RecordStatus.FAILED, why, (RecordStatus.RUNNING,))
        silent = now - timedelta(seconds=self.limits.heartbeat_timeout)
        for doc in self.store.running({"heartbeatAt": {"$lt": silent}}):
            why = f"worker lost: no heartbeat for {self.limits.heartbeat_timeout:g}s"
            self._end(str(doc["_id"]), RecordStatus.FAILED, why, (RecordStatus.RUNNING,))
        for doc in self.store.running({"heartbeatAt": None, "startBy": {"$lt": now}}):
            why = f"worker lost: it did not start within {self.limits.start_timeout:g}s"
            self._end(str(doc["_id"]), RecordStatus.FAILED, why, (RecordStatus.RUNNING,))
        for doc in self.store.running({"timeoutAt": {"$lt": now}}):
            why = f"timed out after {doc.get('timeoutSeconds', 0)}s"
            self._end(str(doc["_id"]), RecordStatus.ABORTED, why, (RecordStatus.RUNNING,))
        lease = timedelta(seconds=self.limits.cloud_call_timeout) + RELAUNCH_AFTER
        while (relaunch := self.store.claim_relaunch(now, lease)) is not None:
            with logsetup.bound(record_id=str(relaunch["_id"])):
                log.warning("its start left no worker and no answer: asking the cloud again")
            self._spawn_launch(relaunch)
        for head in self.store.waiting_for_room():
            if reason := rec.waited_too_long(head, now):
                self._end(str(head["_id"]), RecordStatus.ABORTED, reason, (RecordStatus.PENDING,))
        self.fire_crons()
        for slot in self.store.held_slots():
            holder, at = slot["record"], slot["at"]
            stale = at is None or at < now - timedelta(seconds=10)
            if holder and stale and not self.store.is_running(holder):
                self.store.release_slot(holder)
        self.dispatch()

    # --- shared endings ---------------------------------------------------------------------

    def _end(
        self,
        record_id: str,
        status: str,
        error: str,
        expected: tuple[str, ...] | frozenset[str],
        extra: Mapping[str, object] | None = None,
        stop_worker: bool = True,
        name: str = "",
    ) -> None:
        doc = self.store.finish(
            record_id, status, error, self.clock(), tuple(expected), extra, name
        )
        if doc is None:
            return
        with logsetup.bound(record_id=record_id):
            log.info("record ended: %s%s", status, f" ({error})" if error else "")
        if stop_worker and doc.get("dispatchedAt"):
            self._stop(record_id)
        metrics.RECORDS_FINISHED.labels(status, rec.cloud_of(doc)).inc()
        self.counters.finished(doc, status)  # once: only the call that ended it gets here
        self._after_end(doc)

    def _after_end(self, doc: RecordDoc) -> None:
        """Free the ended record's slot, announce it (at least once: the scm service keys
        what it sends by record), apply retention, start what waits."""
        record_id, status = str(doc["_id"]), str(doc["status"])
        self.store.release_slot(record_id)
        self.publish(
            events.RECORD_FINISHED[1],
            events.RecordFinished(
                record_id=record_id,
                pipeline_id=doc["pipelineID"],
                project_id=doc["projectID"],
                status=status,
                time=timefmt.rfc3339(self.clock()) or "",
                record=rec.view(doc),
                project=doc["snapshot"]["project"],
                pipeline=doc["snapshot"]["pipeline"],
            ),
        )
        self.store.after_end_done(record_id)
        expired = self.store.beyond_retention(doc["pipelineID"], self.limits.records_per_pipeline)
        if expired:
            self._remove([self.store.get(r) for r in expired], counted=True)
        self.dispatch()

    def _remove(self, docs: Sequence[RecordKeys], counted: bool = False) -> None:
        """Delete records (stopping running ones); `counted` keeps them in the stats."""
        if not docs:
            return
        if not counted:
            self.counters.removed(docs)
        ids = [str(d["_id"]) for d in docs]
        for doc in docs:  # stopped first, in line: a worker still running would store its
            if doc.get("status") == RecordStatus.RUNNING:  # last lines after the delete below
                self._stop(str(doc["_id"]), wait=True)
        self.store.delete(docs)
        for record_id in ids:
            self.store.release_slot(record_id)
        self.publish(events.RECORDS_DELETED[1], events.RecordsDeleted(record_ids=ids))
        self.dispatch()

    def _stop(self, record_id: str, wait: bool = False) -> None:
        """Ask the cloud to stop a record's worker; unless `wait`, without waiting for it
        (Cloud.spawn: the upkeep timer must not wait on the cloud)."""

        def stop() -> None:
            try:
                self.cloud.stop(record_id)
            except Exception:  # the cloud's own sweep catches leftovers
                log.warning("could not stop the worker of %s", record_id, exc_info=True)

        if wait:
            stop()
        else:
            self.cloud.spawn(stop)
