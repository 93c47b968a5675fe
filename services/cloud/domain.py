"""Pure rules of the cloud service: built-in cloud names, ids, exit reasons (which backend
serves a stored cloud is the registry's: `services.cloud.backends.driver_for`).

No nameko, no pymongo, no processes here, so these rules are unit-tested in milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.contracts.errors import NotFound
from shared.contracts.rpc import Placement, WorkerInfo
from shared.timefmt import rfc3339

LOCAL = "local"  # the built-in cloud's name (served by the Local backend)
RUNNING = "Running"
DISAPPEARED = "worker process disappeared"
# How old a job sent with a start (rpc.HandedJob) may be, by this host's clock against the
# scheduler's, for its worker to be handed it. Starts take milliseconds; the scheduler gives
# one up after its cloud_call_timeout (8 s by default) and fails the record, so a job older
# than this is not handed on (the worker asks get_job, which refuses an ended record). Clocks
# would have to be 6 s apart for a given-up start's job to pass.
JOB_FRESH_FOR = 2.0  # seconds
_RECORD_ID = re.compile(r"^[0-9a-f]{24}$")


class InvalidRecordId(ValueError):
    """Record ids become paths and process names, so only the contract's 24-hex ids pass."""

    def __init__(self, record_id: object) -> None:
        super().__init__(f"record id must be 24 lowercase hex digits, got {record_id!r}")


def check_record_id(record_id: object) -> str:
    if not isinstance(record_id, str) or not _RECORD_ID.match(record_id):
        raise InvalidRecordId(record_id)
    return record_id


def job_fresh(sent: float, now: float, within: float = JOB_FRESH_FOR) -> bool:
    """Whether a job sent at `sent` (the scheduler's time.time()) may still be handed to its
    worker at `now` (ours): neither older than `within`, nor more than that in our future."""
    return abs(now - sent) <= within


def cloud_of(name: str | None) -> str:
    """The built-in cloud a name means: empty or `local` in any case is the host's Local cloud.

    Only for names not stored in `clouds`; every other such name is unknown.
    """
    if not name or name.strip().lower() == LOCAL:
        return LOCAL
    raise NotFound(f"cloud {name} not found")


def cloud_of_placement(placement: Placement | None) -> str:
    return cloud_of((placement or {}).get("cloudName"))


def listed_cloud(name: str, stored: Mapping[str, Any] | None) -> str:
    """The cloud whose workers `list_workers(name)` shows (NotFound for an unknown name)."""
    return str(stored["name"]) if stored is not None else cloud_of(name)


def worker_name(record_id: str) -> str:
    return f"cyclone-worker-{record_id}"


def exit_reason(returncode: int | None, stop_requested: bool = False) -> str:
    """Human text for how a worker ended; `returncode` follows Popen (-N: killed by signal N)."""
    if returncode is None:
        text = DISAPPEARED
    elif returncode < 0:
        text = f"killed by signal {-returncode}"
    else:
        text = f"exited with code {returncode}"
    return f"{text} (stop requested)" if stop_requested else text


def replica_host(hostname: str, replica: int) -> str:
    """Who started a worker: the host, and the replica of the cloud service on it (the first
    keeps the bare host name, as before replicas)."""
    return hostname if replica <= 1 else f"{hostname}#{replica}"


def worker_info(
    record_id: str,
    project: str,
    pipeline: str,
    cloud: str,
    created: datetime,
    updated: datetime,
) -> WorkerInfo:
    return {
        "name": worker_name(record_id),
        "status": RUNNING,
        "creationTime": rfc3339(created) or "",
        "lastUpdateTime": rfc3339(updated) or "",
        "projectName": project,
        "pipelineName": pipeline,
        "recordID": record_id,
        "cloud": cloud,
    }


def parse_command(raw: str) -> list[str]:
    """A worker command given as a JSON list of strings; empty text means none given."""
    if not raw.strip():
        return []
    try:
        command = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"worker command must be a JSON list of strings: {exc}") from exc
    if not command or not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise ValueError(f"worker command must be a non-empty JSON list of strings: {raw!r}")
    return command
