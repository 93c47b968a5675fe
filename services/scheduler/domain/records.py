"""A record's life: which stages run, how statuses change, how it looks to clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from shared import timefmt
from shared.contracts import stages
from shared.crypto import is_encrypted

PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCESS: Final = "Success"
FAILED: Final = "Failed"
ABORTED: Final = "Aborted"
TERMINAL: Final = frozenset({SUCCESS, FAILED, ABORTED})
ACTIVE: Final = frozenset({PENDING, RUNNING})

STAGE_ORDER: Final = stages.STAGES


class StageSelectionError(ValueError):
    pass


def stages_to_run(requested: list[str] | None, defined: dict[str, Any]) -> list[str]:
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
    request: dict[str, Any], stages: list[str], now: datetime, timeout_seconds: int
) -> dict[str, Any]:
    """The stored document of a new, Pending record."""
    params = dict(request["params"])
    project, pipeline = request["project"], request["pipeline"]
    return {
        "name": params.get("name", ""),
        "pipelineID": pipeline["id"],
        "projectID": project["id"],
        "projectName": project["name"],
        "pipelineName": pipeline["name"],
        "trigger": request.get("trigger") or "user",
        "owner": request.get("owner", ""),
        "performParams": params,
        "stages": stages,
        "stageStatus": {s: {"status": PENDING} for s in stages},
        "status": PENDING,
        "startTime": now,
        "startDay": day_of(now),
        "timeoutSeconds": timeout_seconds,
        "snapshot": {"project": project, "pipeline": pipeline},
        **({"untrusted": str(request["untrusted"])} if request.get("untrusted") else {}),
    }


def withhold_secrets(snapshot: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An untrusted record's snapshot without any secret: every sealed value becomes "",
    whatever field holds it (SCM token and password, registry password, the SonarQube
    token, code sources' passwords, secret envVars, the webhook secret, ...). Returns the
    copy and the dotted paths emptied (`project.registry.password`, list indexes as
    numbers), so the worker can tell which stages lost what they need."""
    withheld: list[str] = []

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(value)]
        if is_encrypted(value):
            withheld.append(".".join(path))
            return ""
        return value

    return walk(snapshot, ()), withheld


def day_of(t: datetime) -> int:
    """Unix seconds of the UTC midnight starting `t`'s day (the stats bucket)."""
    ts = int(t.timestamp())
    return ts - ts % 86400


def finished_stage_status(stage_status: dict[str, Any], final: str) -> dict[str, Any]:
    """Stage statuses once a run ended: never-started stages are dropped (they did not run),
    stages still Running take the run's end (Aborted when aborted, Failed otherwise)."""
    out = {}
    for stage, status in stage_status.items():
        state = status.get("status")
        if state == PENDING:
            continue
        if state == RUNNING:
            status = {**status, "status": ABORTED if final == ABORTED else FAILED}
        out[stage] = status
    return out


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The PipelineRecordObject clients see (internal bookkeeping left out)."""
    out: dict[str, Any] = {
        "id": str(doc["_id"]),
        "name": doc.get("name", ""),
        "pipelineID": doc["pipelineID"],
        "trigger": doc.get("trigger", ""),
        "performParams": doc.get("performParams", {}),
        "stageStatus": doc.get("stageStatus", {}),
        "status": doc["status"],
        "startTime": timefmt.rfc3339(doc["startTime"]),
    }
    if doc["status"] == RUNNING and doc.get("waitingFor") and not doc.get("worker"):
        # Its cloud had no room; this is another try to start it, not a run yet.
        out["status"] = PENDING
    if doc.get("owner"):
        out["owner"] = doc["owner"]
    if doc.get("untrusted"):  # a fork's pull request: it ran without the project's secrets
        out["trusted"] = False
        out["untrustedReason"] = doc["untrusted"]
    if doc.get("errorMessage"):
        out["errorMessage"] = doc["errorMessage"]
    if doc.get("endTime"):
        out["endTime"] = timefmt.rfc3339(doc["endTime"])
    return out


def fallback_name(now: datetime) -> str:
    """A record's name when neither the request nor a checkout gave one."""
    return "run-" + now.strftime("%y%m%d%H%M%S")


# Parts of a pipeline the worker never uses: notification receivers (Slack and webhook URLs are
# credentials) and triggers (webhook secrets) stay sealed in the scheduler.
NOT_FOR_WORKERS = ("notification", "autoTrigger")


def for_worker(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The run's snapshot as a worker gets it: without what it never uses."""
    pipeline = {k: v for k, v in snapshot["pipeline"].items() if k not in NOT_FOR_WORKERS}
    return {**snapshot, "pipeline": pipeline}
