"""Stats counters: records per (project or pipeline, UTC day, status), kept as runs happen.

The stats endpoints read at most one small document per day of the range instead of every
record in it: over 100k records the embedded MongoDB-compatible server took seconds to fetch
them all (bench/stats.py). Counters move when a record is created, when it ends, and when a
record is deleted by a user or with its pipeline. Records removed by retention stay counted:
stats are the history of runs, not of what is still stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database

from services.scheduler.documents import Counted
from shared.contracts.records import RecordStatus

SCOPES: Final = ("projectID", "pipelineID")
# The counter of each final status (Pending and Running runs count in `total` only).
STATUS_FIELDS: Final[dict[str, str]] = {
    RecordStatus.SUCCESS: "success",
    RecordStatus.FAILED: "failed",
    RecordStatus.ABORTED: "aborted",
}


def _key(scope: str, scope_id: str, day: int) -> str:
    return f"{scope}:{scope_id}:{day}"


def _scope_id(record: Counted, scope: str) -> str:
    return record["projectID"] if scope == "projectID" else record["pipelineID"]


class StatsCounters:
    def __init__(self, db: Database) -> None:
        self.days = db.stats_days

    def ensure_indexes(self) -> None:
        self.days.create_index([("scope", ASCENDING), ("scopeId", ASCENDING), ("day", ASCENDING)])

    def _bump(self, record: Counted, fields: dict[str, int]) -> Iterable[UpdateOne]:
        day = record["startDay"]
        for scope in SCOPES:
            scope_id = _scope_id(record, scope)
            yield UpdateOne(
                {"_id": _key(scope, scope_id, day)},
                {
                    "$inc": fields,
                    "$setOnInsert": {"scope": scope, "scopeId": scope_id, "day": day},
                },
                upsert=True,
            )

    def created(self, record: Counted) -> None:
        self.days.bulk_write(list(self._bump(record, {"total": 1})), ordered=False)

    def finished(self, record: Counted, status: str) -> None:
        field = STATUS_FIELDS.get(status)
        if field:
            self.days.bulk_write(list(self._bump(record, {field: 1})), ordered=False)

    def removed(self, records: Iterable[Counted]) -> None:
        ops: list[UpdateOne] = []
        for record in records:
            fields = {"total": -1}
            field = STATUS_FIELDS.get(record.get("status", ""))
            if field:
                fields[field] = -1
            ops += self._bump(record, fields)
        if ops:
            self.days.bulk_write(ops, ordered=False)

    def add_finished(self, records: Iterable[Counted]) -> None:
        """Count many finished records at once (imports, the stats benchmark's seeding)."""
        totals: dict[tuple[str, str, int], dict[str, int]] = {}
        for record in records:
            for scope in SCOPES:
                key = (scope, _scope_id(record, scope), record["startDay"])
                fields = totals.setdefault(key, {})
                fields["total"] = fields.get("total", 0) + 1
                field = STATUS_FIELDS.get(record.get("status", ""))
                if field:
                    fields[field] = fields.get(field, 0) + 1
        ops = [
            UpdateOne(
                {"_id": _key(scope, scope_id, day)},
                {"$inc": fields, "$setOnInsert": {"scope": scope, "scopeId": scope_id, "day": day}},
                upsert=True,
            )
            for (scope, scope_id, day), fields in totals.items()
        ]
        if ops:
            self.days.bulk_write(ops, ordered=False)

    def forget_pipelines(self, pipeline_ids: list[str]) -> None:
        self.days.delete_many({"scope": "pipelineID", "scopeId": {"$in": pipeline_ids}})

    def day_counts(
        self, scope: str, scope_id: str, first_day: int, last_day: int
    ) -> list[tuple[int, str, int]]:
        """(day, status, n) rows for stats.build; "Other" carries Pending and Running runs."""
        rows: list[tuple[int, str, int]] = []
        query = {"scope": scope, "scopeId": scope_id, "day": {"$gte": first_day, "$lte": last_day}}
        for doc in self.days.find(query):
            ended = 0
            for status, field in STATUS_FIELDS.items():
                n = doc.get(field, 0)
                ended += n
                rows.append((doc["day"], status, n))
            rows.append((doc["day"], "Other", doc.get("total", 0) - ended))
        return rows
