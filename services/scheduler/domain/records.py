"""A record's life: which stages run, how statuses change, how it looks to clients."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, cast

from services.scheduler.documents import NewRecord, RecordDoc, RecordHead, StoredStage
from shared import timefmt
from shared.contracts import stages
from shared.contracts.artifacts import Kept, Pin
from shared.contracts.catalog import Project, Snapshot
from shared.contracts.records import ACTIVE, RecordStatus, RecordView, StageStatus
from shared.contracts.rpc import RecordRequest
from shared.crypto import is_encrypted

STAGE_ORDER: Final = stages.STAGES


class StageSelectionError(ValueError):
    pass


def stages_to_run(requested: list[str] | None, defined: Mapping[str, object]) -> list[str]:
    """The stages of a run, in execution order.

    None or empty means every stage the pipeline defines; codeCheckout always runs first.
    Asking for a stage the pipeline does not define is an error, not a silent skip.
    """
    defined_names = [s for s in STAGE_ORDER if defined.get(s) is not None]
    if not requested:
        chosen = set(defined_names)
    else:
        missing = [s for s in requested if s not in defined_names]
        if missing:
            raise StageSelectionError(
                f"stages {missing} are not defined in the pipeline (defined: {defined_names})"
            )
        chosen = set(requested)
    chosen.add("codeCheckout")
    return [s for s in STAGE_ORDER if s in chosen]


def new_record(
    request: RecordRequest, stages: list[str], now: datetime, timeout_seconds: int
) -> NewRecord:
    """The stored document of a new, Pending record."""
    params = request["params"].copy()
    project, pipeline = request["project"], request["pipeline"]
    doc: NewRecord = {
        "name": params.get("name", ""),
        "pipelineID": pipeline["id"],
        "projectID": project["id"],
        "projectName": project["name"],
        "pipelineName": pipeline["name"],
        "trigger": request.get("trigger") or "user",
        "owner": request.get("owner", ""),
        "performParams": params,
        "stages": stages,
        "stageStatus": {s: {"status": StageStatus.PENDING} for s in stages},
        "status": RecordStatus.PENDING,
        "startTime": now,
        "startDay": day_of(now),
        "timeoutSeconds": timeout_seconds,
        "snapshot": {"project": project, "pipeline": pipeline},
    }
    if request.get("untrusted"):
        doc["untrusted"] = request["untrusted"]
    if request.get("key"):
        doc["requestKey"] = request["key"]
    return doc


def withhold_secrets(snapshot: Snapshot) -> tuple[Snapshot, list[str]]:
    """An untrusted record's snapshot without any secret: every sealed value becomes "",
    whatever field holds it (SCM token and password, registry password, the SonarQube
    token, code sources' passwords, secret envVars, the webhook secret, ...). Returns the
    copy and the dotted paths emptied (`project.registry.password`, list indexes as
    numbers), so the worker can tell which stages lost what they need."""
    withheld: list[str] = []

    def walk(value: object, path: tuple[str, ...]) -> object:
        if isinstance(value, dict):
            return {k: walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(value)]
        if is_encrypted(value):
            withheld.append(".".join(path))
            return ""
        return value

    # `walk` keeps every dict and list as it is, only sealed strings become ""
    return cast(Snapshot, walk(snapshot, ())), withheld


def day_of(t: datetime) -> int:
    """Unix seconds of the UTC midnight starting `t`'s day (the stats bucket)."""
    ts = int(t.timestamp())
    return ts - ts % 86400


def finished_stage_status(
    stage_status: Mapping[str, StoredStage], final: str
) -> dict[str, StoredStage]:
    """Stage statuses once a run ended: never-started stages are dropped (they did not run),
    stages still Running take the run's end (Aborted when aborted, Failed otherwise)."""
    out: dict[str, StoredStage] = {}
    for stage, status in stage_status.items():
        state = status.get("status")
        if state == StageStatus.PENDING:
            continue
        if state == StageStatus.RUNNING:
            aborted = final == RecordStatus.ABORTED
            status = {**status, "status": StageStatus.ABORTED if aborted else StageStatus.FAILED}
        out[stage] = status
    return out


def view(doc: RecordHead) -> RecordView:
    """The PipelineRecordObject clients see (internal bookkeeping left out)."""
    out: RecordView = {
        "id": str(doc["_id"]),
        "name": doc.get("name", ""),
        "pipelineID": doc["pipelineID"],
        "trigger": doc.get("trigger", ""),
        "performParams": doc.get("performParams", {}),
        "stageStatus": dict(doc.get("stageStatus", {})),
        "status": doc["status"],
        "startTime": timefmt.rfc3339(doc["startTime"]) or "",
    }
    if (
        doc["status"] == RecordStatus.RUNNING
        and not doc.get("worker")
        and not doc.get("heartbeatAt")
    ):
        # Dispatched, but no worker yet: the cloud is being asked (it may have no room, and
        # the record waits), so it does not run yet.
        out["status"] = RecordStatus.PENDING
    if doc.get("owner"):
        out["owner"] = doc["owner"]
    if doc.get("rerunOf"):
        out["rerunOf"] = doc["rerunOf"]
    if doc.get("untrusted"):  # a fork's pull request: it ran without the project's secrets
        out["trusted"] = False
        out["untrustedReason"] = doc["untrusted"]
    if doc.get("errorMessage"):
        out["errorMessage"] = doc["errorMessage"]
    ended = timefmt.rfc3339(doc.get("endTime"))
    if ended:
        out["endTime"] = ended
    return out


def for_worker(snapshot: Snapshot) -> Snapshot:
    """The run's snapshot as a worker gets it: without what it never uses. Notification
    receivers (Slack and webhook URLs are credentials) and triggers (webhook secrets) stay
    sealed in the scheduler."""
    pipeline = snapshot["pipeline"].copy()
    pipeline.pop("notification", None)
    pipeline.pop("autoTrigger", None)
    return {**snapshot, "pipeline": pipeline}


# --- reruns ---------------------------------------------------------------------------------

START: Final = "start"
FROM_FAILED: Final = "failed"
RERUN_FROM: Final = (START, FROM_FAILED)
# Built images are not kept between records: a reused stage's images would be gone.
NEVER_REUSED: Final = frozenset({"codeCheckout", "imageBuild"})


class RerunRefused(ValueError):
    """Why a record cannot be rerun that way (HTTP 409)."""


def reused_stages(original: RecordDoc, start_from: str) -> list[str]:
    """The stages a rerun takes over from `original` instead of running them.

    From `failed`: those before the first stage that did not succeed (Failed, Aborted, or
    never reported), except codeCheckout (the workspace needs the code) and imageBuild
    (images are not kept); Skipped stages (an untrusted run's) run again and are skipped
    again. From `start`: none.
    """
    if start_from == START:
        return []
    if start_from != FROM_FAILED:
        raise ValueError(f"from must be one of {list(RERUN_FROM)}")
    statuses = original.get("stageStatus", {})
    reused: list[str] = []
    for stage in original.get("stages", []):
        status = statuses.get(stage, {}).get("status")
        if status == StageStatus.SKIPPED:
            continue
        if status != StageStatus.SUCCESS:
            return [s for s in reused if s not in NEVER_REUSED]
        reused.append(stage)
    raise RerunRefused(
        f"record {original['_id']} has no failed stage to rerun from; rerun it from the start"
    )


def pinned_commits(original: RecordDoc) -> Pin:
    """What the original checked out (git sha, svn revision), for the rerun to check out."""
    commits = original.get("stageStatus", {}).get("codeCheckout", {}).get("commits", {})
    pin: Pin = {}
    main = commits.get("mainRepo", {}).get("ID")
    if main:
        pin["mainRepo"] = str(main)
    deps = [str(d.get("ID") or "") for d in commits.get("depRepos", [])]
    if any(deps):
        pin["depRepos"] = deps
    return pin


def rerun_record(
    original: RecordDoc,
    start_from: str,
    project: Project,
    owner: str,
    now: datetime,
    timeout_seconds: int,
) -> NewRecord:
    """The stored document of a rerun: a new Pending record of the same pipeline (as it ran:
    its snapshot), the same performParams and stages, the original's commits pinned, its
    trust kept. Reused stages show the original's stage status with `reusedFrom` (the record
    that ran them, following earlier reruns); `restore` lists the artifacts they kept."""
    if original["status"] in ACTIVE:
        raise RerunRefused(
            f"record {original['_id']} is {original['status']}; only finished records can be rerun"
        )
    reused = reused_stages(original, start_from)
    stages = list(original.get("stages", []))
    before = original.get("stageStatus", {})
    stage_status: dict[str, StoredStage] = {}
    restore: list[Kept] = []
    for stage in stages:
        if stage not in reused:
            stage_status[stage] = {"status": StageStatus.PENDING}
            continue
        kept = before[stage].copy()
        kept.pop("assumed", None)
        source = str(kept.get("reusedFrom") or original["_id"])
        stage_status[stage] = {**kept, "reusedFrom": source}
        # the paths the worker kept (its stage_finished `details.artifacts`)
        paths = [str(p) for p in kept.get("artifacts", [])]
        if paths:
            restore.append({"stage": stage, "record": source, "paths": paths})
    snapshot = original["snapshot"]
    doc: NewRecord = {
        "name": "",
        "pipelineID": original["pipelineID"],
        "projectID": original["projectID"],
        "projectName": original.get("projectName", ""),
        "pipelineName": original.get("pipelineName", ""),
        "trigger": owner or "user",
        "owner": owner,
        "performParams": original.get("performParams", {}).copy(),
        "stages": stages,
        "stageStatus": stage_status,
        "status": RecordStatus.PENDING,
        "startTime": now,
        "startDay": day_of(now),
        "timeoutSeconds": timeout_seconds,
        "snapshot": {"project": project or snapshot["project"], "pipeline": snapshot["pipeline"]},
        "rerunOf": str(original["_id"]),
        "reused": reused,
        "restore": restore,
        "pin": pinned_commits(original),
    }
    if original.get("untrusted"):  # a fork's pull request stays untrusted when rerun
        doc["untrusted"] = original["untrusted"]
    return doc


# --- figures for the metrics (shared/metrics.py) ------------------------------------------------


def seconds_pending(created: object, now: datetime) -> float | None:
    """How long a record waited from its creation (its startTime) to its dispatch."""
    return (now - created).total_seconds() if isinstance(created, datetime) else None


def cloud_of(doc: RecordDoc) -> str:
    location = doc["snapshot"]["project"].get("worker", {}).get("location", {})
    return location.get("cloudName") or "local"


def stage_seconds(started: str | None, ended: str) -> float | None:
    """A stage's run time from its stored start to the end its worker reported."""
    began = timefmt.parse(started)
    end = timefmt.parse(ended)
    return (end - began).total_seconds() if began and end else None


def waited_too_long(doc: RecordHead, now: datetime) -> str | None:
    """Why a record waiting for room in its cloud ends: its timeout counts from its creation,
    since each new try starts a fresh run timeout (a quota it can never fit would keep it
    Pending forever)."""
    created, limit = doc.get("startTime"), doc.get("timeoutSeconds")
    if not doc.get("waitingFor") or not isinstance(created, datetime) or not limit:
        return None
    if (now - created).total_seconds() <= limit:
        return None
    return f"timed out after {limit}s waiting for room in its cloud: {doc['waitingFor']}"
