"""Events on the bus: (source service, event type) pairs and their payloads.

A handler subscribes with `@event_handler(*PROJECT_DELETED)`; a dispatcher publishes with
`dispatch(*PROJECT_DELETED, payload)` (shared/publish.py for processes outside nameko).
Event types are nouns in the past tense. Handlers must be idempotent and must not rely on
the order of events from different sources: delivery is at least once.
"""

from typing import Final, NotRequired

from typing_extensions import TypedDict

from shared.contracts import services
from shared.contracts.catalog import Pipeline, Project
from shared.contracts.records import RecordView, StageDetails

# --- from the gateway -----------------------------------------------------------------------

PROJECT_DELETED: Final = (services.API, "project_deleted")
PIPELINE_DELETED: Final = (services.API, "pipeline_deleted")


class ProjectDeleted(TypedDict):
    project_id: str
    project: str  # name
    pipeline_ids: list[str]


class PipelineDeleted(TypedDict):
    project_id: str
    project: str
    pipeline_id: str
    pipeline: str


PIPELINE_SAVED: Final = (services.API, "pipeline_saved")
PROJECT_SAVED: Final = (services.API, "project_saved")


class PipelineSaved(TypedDict):
    """A pipeline was created or replaced; `project` and `pipeline` are the stored documents
    as JSON (secrets sealed), for runs the scheduler starts by itself (cron triggers)."""

    project_id: str
    pipeline_id: str
    project: Project
    pipeline: Pipeline


class ProjectSaved(TypedDict):
    project_id: str
    project: Project


# --- from a worker (one process per record) -------------------------------------------------

STAGE_STARTED: Final = (services.WORKER, "stage_started")
STAGE_FINISHED: Final = (services.WORKER, "stage_finished")
RUN_FINISHED: Final = (services.WORKER, "run_finished")
HEARTBEAT: Final = (services.WORKER, "heartbeat")
HEARTBEAT_INTERVAL: Final = 5.0  # seconds between heartbeats
HEARTBEAT_TIMEOUT: Final = 30.0  # a Running record silent this long has lost its worker


class StageFinished(TypedDict):
    record_id: str
    stage: str
    status: str  # Success | Failed | Aborted | Skipped (an untrusted run's; details.skipReason)
    time: str
    # when the stage started, as its stage_started said: the two events travel on different
    # queues, so the start may be applied after the end (or not at all)
    started: NotRequired[str]
    error: NotRequired[str]
    # codeCheckout: {"commits": {"mainRepo": {"ID", "Author", "Date", "Message"}}}
    # unitTest/package: {"outputs": [paths collected]}
    details: NotRequired[StageDetails]
    # the record name chosen by the worker when the request gave none (after checkout)
    record_name: NotRequired[str]
    worker_token: NotRequired[str]  # the record's worker token (shared/workertoken.py)


class StageStarted(TypedDict):
    record_id: str
    stage: str
    time: str
    # The end of the stage before, instead of its own STAGE_FINISHED, when the job said the
    # scheduler takes it here (rpc.Job.start_takes_stage): applied before this start.
    previous: NotRequired[StageFinished]
    worker_token: NotRequired[str]  # the record's worker token (shared/workertoken.py)


class RunFinished(TypedDict):
    record_id: str
    status: str  # Success | Failed | Aborted
    time: str
    error: NotRequired[str]
    log_lines: int  # how many log lines the worker published in all
    # The name the worker gave the record at checkout (also in that stage's STAGE_FINISHED):
    # set before the status, since the two events may be handled in either order.
    record_name: NotRequired[str]
    # The last stage's end, instead of its own STAGE_FINISHED, when the job said the
    # scheduler takes it here (rpc.Job.end_takes_stage): applied before the run's end.
    stage: NotRequired[StageFinished]
    worker_token: NotRequired[str]  # the record's worker token (shared/workertoken.py)


class Heartbeat(TypedDict):
    record_id: str
    time: str
    worker_token: NotRequired[str]  # the record's worker token (shared/workertoken.py)


# --- from the cloud service -----------------------------------------------------------------

WORKER_EXITED: Final = (services.CLOUD, "worker_exited")


class WorkerExited(TypedDict):
    record_id: str
    exit_code: int | None  # None when unknown (e.g. found gone after a restart)
    reason: str  # e.g. "exited with code 1", "killed by signal 9"
    time: str


# --- from the scheduler ---------------------------------------------------------------------

RECORD_FINISHED: Final = (services.SCHEDULER, "record_finished")
RECORDS_DELETED: Final = (services.SCHEDULER, "records_deleted")


class RecordFinished(TypedDict):
    record_id: str
    pipeline_id: str
    project_id: str
    status: str
    time: str
    # The ended record as clients see it (PipelineRecordObject) and the project and pipeline
    # snapshots it ran with (secrets sealed): what the scm service needs for notifications,
    # commit statuses and tags, even after retention has deleted the record.
    record: NotRequired[RecordView]
    project: NotRequired[Project]
    pipeline: NotRequired[Pipeline]


class RecordsDeleted(TypedDict):
    record_ids: list[str]


# The contract of each event's payload, checked where it arrives (shared/redelivery.py).
PAYLOADS: Final[dict[tuple[str, str], type]] = {
    PROJECT_DELETED: ProjectDeleted,
    PIPELINE_DELETED: PipelineDeleted,
    PIPELINE_SAVED: PipelineSaved,
    PROJECT_SAVED: ProjectSaved,
    STAGE_STARTED: StageStarted,
    STAGE_FINISHED: StageFinished,
    RUN_FINISHED: RunFinished,
    HEARTBEAT: Heartbeat,
    WORKER_EXITED: WorkerExited,
    RECORD_FINISHED: RecordFinished,
    RECORDS_DELETED: RecordsDeleted,
}
