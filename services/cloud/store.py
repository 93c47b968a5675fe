"""The `workers` collection (owned by the cloud service); the only pymongo code here.

One document per record: {_id: record_id, cloud, driver, host, project, pipeline, startedAt,
endedAt, exitCode, reason} plus the driver's handle (pid, pgid, workspace for Local). It lets
a restarted service adopt the workers still running on its host.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from services.cloud.drivers.base import SavedWorker

COLLECTION = "workers"
_COMMON = ("_id", "cloud", "driver", "host", "project", "pipeline", "startedAt")
_OUTCOME = ("endedAt", "exitCode", "reason")


class WorkerStore:
    def __init__(self, database: Database) -> None:
        self.collection = database[COLLECTION]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("driver", ASCENDING), ("host", ASCENDING)])

    def started(self, saved: SavedWorker, cloud: str, driver: str, host: str) -> None:
        """Record a (re)started worker; a record started again replaces its old document."""
        document: dict[str, Any] = {
            **saved.handle,
            "_id": saved.record_id,
            "cloud": cloud,
            "driver": driver,
            "host": host,
            "project": saved.project,
            "pipeline": saved.pipeline,
            "startedAt": saved.started_at,
            "endedAt": None,
            "exitCode": None,
            "reason": None,
        }
        self.collection.replace_one({"_id": saved.record_id}, document, upsert=True)

    def ended(self, record_id: str, exit_code: int | None, reason: str, at: datetime) -> None:
        """Mark a worker ended; idempotent (the first outcome stays)."""
        self.collection.update_one(
            {"_id": record_id, "endedAt": None},
            {"$set": {"endedAt": at, "exitCode": exit_code, "reason": reason}},
        )

    def running(self, driver: str, host: str) -> list[SavedWorker]:
        """Workers of that driver on that host not marked ended (to adopt after a restart)."""
        found = self.collection.find({"driver": driver, "host": host, "endedAt": None})
        return [_saved(document) for document in found]

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": record_id})

    def delete(self, record_ids: Iterable[str]) -> None:
        self.collection.delete_many({"_id": {"$in": list(record_ids)}})


def _saved(document: dict[str, Any]) -> SavedWorker:
    handle = {k: v for k, v in document.items() if k not in _COMMON and k not in _OUTCOME}
    return SavedWorker(
        record_id=document["_id"],
        project=document.get("project", ""),
        pipeline=document.get("pipeline", ""),
        started_at=document["startedAt"],
        handle=handle,
    )
