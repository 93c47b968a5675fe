"""The scheduler's `cron_triggers` collection: one document per cron entry of a pipeline,
and `cron_versions`: per pipeline, the newest save applied, or that it was deleted.

Saves and deletions arrive as events that may be retried late (shared/redelivery): a save
retried after a newer save, or after the pipeline's deletion, must not bring back triggers
that are gone. Pipeline ids are never reused, so a deletion is remembered for good (a small
document per deleted pipeline).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.scheduler.documents import CronTrigger
from shared.contracts.catalog import Project

GONE = "~deleted"  # sorts after every RFC 3339 time: no save is newer than a deletion


class CronStore:
    def __init__(self, db: Database) -> None:
        self.triggers = db.cron_triggers
        self.versions = db.cron_versions

    def ensure_indexes(self) -> None:
        self.triggers.create_index([("nextRun", ASCENDING)])
        self.triggers.create_index([("pipelineID", ASCENDING)])
        self.triggers.create_index([("projectID", ASCENDING)])

    def replace_pipeline(self, pipeline_id: str, saved_at: str, docs: list[CronTrigger]) -> bool:
        """The pipeline's triggers become `docs`, unless a newer save or its deletion was
        applied already (then False). The same save again applies again (idempotent)."""
        try:
            self.versions.update_one(
                {"_id": pipeline_id, "savedAt": {"$lte": saved_at}},
                {"$set": {"savedAt": saved_at}},
                upsert=True,
            )
        except DuplicateKeyError:  # its version is newer than this save: leave it
            return False
        self.triggers.delete_many({"pipelineID": pipeline_id})
        if docs:
            self.triggers.insert_many(docs)
        if self.versions.count_documents({"_id": pipeline_id, "savedAt": GONE}):
            self.triggers.delete_many({"pipelineID": pipeline_id})  # deleted meanwhile
            return False
        return True

    def update_project(self, project_id: str, project: Project) -> None:
        self.triggers.update_many({"projectID": project_id}, {"$set": {"project": project}})

    def delete_pipelines(self, pipeline_ids: list[str]) -> None:
        for pipeline_id in pipeline_ids:
            self.versions.update_one({"_id": pipeline_id}, {"$set": {"savedAt": GONE}}, upsert=True)
        self.triggers.delete_many({"pipelineID": {"$in": pipeline_ids}})

    def next_due(self, now: datetime, skip: int = 0) -> CronTrigger | None:
        found: list[CronTrigger] = list(
            self.triggers.find({"nextRun": {"$lte": now}})
            .sort("nextRun", ASCENDING)
            .skip(skip)
            .limit(1)
        )
        return found[0] if found else None

    def claim(self, due: CronTrigger, next_run: datetime) -> bool:
        """Move a due trigger to its next tick, atomically: with several scheduler replicas
        exactly one of them wins the tick (and starts its run)."""
        won = self.triggers.update_one(
            {"_id": due["_id"], "nextRun": due["nextRun"]}, {"$set": {"nextRun": next_run}}
        )
        return won.modified_count == 1
