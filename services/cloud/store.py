"""The `workers` and `clouds` collections (owned by the cloud service); the only pymongo code.

`workers`: one document per record: {_id: record_id, cloud, driver, host, project, pipeline,
startedAt, endedAt, exitCode, reason} plus the driver's handle (pid, pgid, workspace for Local).
It lets a restarted service adopt the workers still running on its host.

`clouds`: one document per cloud, as the gateway sent it (validated, secrets sealed) plus
`_id`, `creationTime` and `lastUpdateTime` (datetimes); unique on `name`. Returned with `id`
and RFC 3339 times, as every service answers over RPC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypedDict, cast

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.cloud.backends.base import SavedWorker, StoredWorker
from shared.contracts.catalog import Cloud, DockerSection, KubernetesSection
from shared.contracts.errors import Conflict, NotFound
from shared.timefmt import now, rfc3339

COLLECTION = "workers"
CLOUDS = "clouds"
_COMMON = ("_id", "cloud", "driver", "host", "project", "pipeline", "startedAt")
_OUTCOME = ("endedAt", "exitCode", "reason")


class StoredCloud(TypedDict, total=False):
    """A cloud as `clouds` keeps it: the gateway's document, `_id` and datetimes."""

    _id: ObjectId
    name: str
    type: str
    docker: DockerSection
    kubernetes: KubernetesSection
    creationTime: datetime
    lastUpdateTime: datetime


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

    def running_worker(self, record_id: str) -> StoredWorker | None:
        """The record's worker if one is saved and not marked ended, whoever started it."""
        document = self.collection.find_one({"_id": record_id, "endedAt": None})
        if document is None:
            return None
        return StoredWorker(_saved(document), document.get("driver", ""), document.get("host", ""))

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
        cloud=document.get("cloud") or "",
    )


class CloudStore:
    """Clouds by name. Reads answer the outward shape (`id`, RFC 3339 times); `find` answers
    the stored document, for the service's own use."""

    def __init__(self, database: Database, clock: Callable[[], datetime] = now) -> None:
        self.collection = database[CLOUDS]
        self._clock = clock

    def ensure_indexes(self) -> None:
        self.collection.create_index([("name", ASCENDING)], unique=True)

    def create(self, doc: Cloud) -> Cloud:
        at = self._clock()
        stored: StoredCloud = {
            **_given(doc),
            "_id": ObjectId(),
            "creationTime": at,
            "lastUpdateTime": at,
        }
        try:
            self.collection.insert_one(stored)
        except DuplicateKeyError:
            raise Conflict(f"cloud {doc.get('name')} already exists") from None
        return outward(stored)

    def find(self, name: str) -> StoredCloud | None:
        found = self.collection.find_one({"name": name})
        return cast(StoredCloud, found) if found is not None else None

    def get(self, name: str) -> Cloud:
        found = self.find(name)
        if found is None:
            raise NotFound(f"cloud {name} not found")
        return outward(found)

    def list(self) -> list[Cloud]:
        found = self.collection.find().sort("name", ASCENDING)
        return [outward(cast(StoredCloud, doc)) for doc in found]

    def replace(self, name: str, doc: Cloud) -> Cloud:
        """The new document keeps the stored `_id`, `name` and `creationTime`."""
        found = self.find(name)
        if found is None:
            raise NotFound(f"cloud {name} not found")
        stored: StoredCloud = {
            **_given(doc),
            "_id": found["_id"],
            "name": found["name"],
            "creationTime": found["creationTime"],
            "lastUpdateTime": self._clock(),
        }
        if self.collection.replace_one({"_id": found["_id"]}, stored).matched_count == 0:
            raise NotFound(f"cloud {name} not found")  # deleted meanwhile
        return outward(stored)

    def delete(self, name: str) -> None:
        if self.collection.delete_one({"name": name}).deleted_count == 0:
            raise NotFound(f"cloud {name} not found")


def _given(doc: Cloud) -> StoredCloud:
    """What a caller's document may set: everything but the fields the store sets."""
    given: StoredCloud = {}
    if "name" in doc:
        given["name"] = doc["name"]
    if "type" in doc:
        given["type"] = doc["type"]
    if "docker" in doc:
        given["docker"] = doc["docker"]
    if "kubernetes" in doc:
        given["kubernetes"] = doc["kubernetes"]
    return given


def outward(stored: StoredCloud) -> Cloud:
    """A stored cloud as it crosses RPC: `id` first, times as RFC 3339 strings."""
    out: Cloud = {"id": str(stored["_id"])}
    if "name" in stored:
        out["name"] = stored["name"]
    if "type" in stored:
        out["type"] = stored["type"]
    if "docker" in stored:
        out["docker"] = stored["docker"]
    if "kubernetes" in stored:
        out["kubernetes"] = stored["kubernetes"]
    created, updated = rfc3339(stored.get("creationTime")), rfc3339(stored.get("lastUpdateTime"))
    if created is not None:
        out["creationTime"] = created
    if updated is not None:
        out["lastUpdateTime"] = updated
    return out
