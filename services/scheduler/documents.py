"""The documents of the scheduler's collections, as stored (times are datetimes, ids ObjectIds).

Only the scheduler reads them; clients see a record through `domain/records.view`
(shared/contracts/records.RecordView). Statuses are stored as plain strings: a value read back
is a `str` equal to its RecordStatus/StageStatus member, not the member itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired

from bson import ObjectId
from typing_extensions import TypedDict

from shared.contracts.artifacts import Kept, Pin
from shared.contracts.catalog import Pipeline, Project, Snapshot
from shared.contracts.records import PerformParams, StageState
from shared.contracts.rpc import WorkerInfo


class StoredStage(StageState, total=False):
    """`stageStatus.<stage>` as stored: a stage's state and the scheduler's notes on it."""

    assumed: bool  # the scheduler settled it (run ended, abort): a late worker report wins


class Counted(TypedDict):
    """What the stats counters read of a record (services/scheduler/counters.py)."""

    projectID: str
    pipelineID: str
    startDay: int  # the UTC midnight starting startTime's day, Unix seconds
    status: str  # a RecordStatus value


class RecordKeys(Counted):
    """What deleting records needs (RecordStore.ids_of_pipelines's projection)."""

    _id: ObjectId
    pipelineSeq: int  # the number a page finds it by


class PipelineCounts(TypedDict):
    """`pipeline_record_counts`: per pipeline, what numbers records and finds its pages
    (services/scheduler/domain/pages.py). `floor` and `holes` are absent in documents made
    before pages were ranges: those pipelines' pages are found by scanning, as before."""

    _id: str  # the pipeline id
    seq: int  # the last number given out
    stored: int  # records stored (the page total)
    floor: NotRequired[int]  # every number up to it is gone
    holes: NotRequired[list[int]]  # the numbers gone above the floor
    tickets: NotRequired[list[ObjectId]]  # of the last numberings, oldest first (store._next_seq)


class _RecordFields(Counted):
    """Every field of a record but its ids and its snapshot."""

    name: str  # "" until the request or the worker's checkout names it
    projectName: str
    pipelineName: str
    trigger: str  # who or what started it: a user's name or "user", "scmTrigger", "cronTrigger"
    owner: str
    performParams: PerformParams
    stages: list[str]  # in execution order
    stageStatus: dict[str, StoredStage]
    startTime: datetime  # its creation
    timeoutSeconds: int
    # Set when created, for some records only.
    untrusted: NotRequired[str]  # why a fork's run goes without the project's secrets
    requestKey: NotRequired[str]  # the create_record request's key (a unique index)
    requestId: NotRequired[str]  # the X-Request-ID of the call that made it (its launch's too)
    rerunOf: NotRequired[str]  # a rerun: the record it runs again
    reused: NotRequired[list[str]]  # a rerun's stages taken over, not run again
    restore: NotRequired[list[Kept]]  # the artifacts those stages kept
    pin: NotRequired[Pin]  # the commits a rerun checks out
    # Bookkeeping of a run (RecordStore): dispatch, its worker, its end.
    slot: NotRequired[int]  # the dispatch slot it holds
    dispatchedAt: NotRequired[datetime]
    launchAt: NotRequired[datetime]  # the last time its worker's start was asked
    startBy: NotRequired[datetime]  # the first heartbeat is due by then
    timeoutAt: NotRequired[datetime]
    waitingFor: NotRequired[str]  # its cloud had no room: why (Pending again)
    retryAt: NotRequired[datetime]  # dispatch leaves it alone until then
    worker: NotRequired[WorkerInfo]  # what the cloud service started
    heartbeatAt: NotRequired[datetime]
    exitedAt: NotRequired[datetime]  # the cloud saw its worker end
    exitReason: NotRequired[str]
    exitClean: NotRequired[bool]  # exit code 0: its run report may still come
    endTime: NotRequired[datetime]
    errorMessage: NotRequired[str]
    logLines: NotRequired[int]  # how many lines its worker published
    afterEnd: NotRequired[bool]  # ended, its after-effects not all done yet (runs.py)
    counted: NotRequired[bool]  # its end is in the stats counters


class NewRecord(_RecordFields):
    """A record before it is stored (domain/records.new_record, rerun_record)."""

    snapshot: Snapshot  # the catalog as it was when the run was triggered (secrets sealed)


class RecordHead(_RecordFields):
    """A stored record read without its snapshot (pages, the reaper's lists)."""

    _id: ObjectId
    pipelineSeq: int  # its number in its pipeline, in creation order (pages read a window)


class RecordDoc(RecordHead):
    """A stored record, whole."""

    snapshot: Snapshot


class JobSource(TypedDict):
    """What a record's job is made of (Runs.job_of): read by get_job, and by a launch, which
    sends the job with the worker's start."""

    _id: ObjectId
    name: str
    performParams: PerformParams
    stages: list[str]
    snapshot: Snapshot
    untrusted: NotRequired[str]
    rerunOf: NotRequired[str]
    reused: NotRequired[list[str]]
    restore: NotRequired[list[Kept]]
    pin: NotRequired[Pin]


class Launchable(JobSource):
    """What starting a record's worker reads of the record (runs._launch)."""

    projectName: str
    pipelineName: str
    startTime: datetime
    requestId: NotRequired[str]


class PendingHead(Launchable):
    """What dispatch reads of the oldest Pending record: what it checks, and what launching
    it takes, so that no read follows the record's move to Running."""

    timeoutSeconds: int
    retryAt: NotRequired[datetime]


class Slot(TypedDict):
    """A `dispatch_slots` document: one of the CYCLONE_MAX_RUNNING places to run."""

    _id: int
    record: str | None  # the record holding it
    at: datetime | None  # since when


class CronTrigger(TypedDict):
    """A `cron_triggers` document: one cron entry of a pipeline, with the snapshots its runs
    start with (the pipeline's save and the project's latest)."""

    _id: str  # "<pipeline id>:<index of the entry>"
    pipelineID: str
    projectID: str
    expression: str
    stages: list[str]
    nextRun: datetime
    project: Project
    pipeline: Pipeline
