"""The scheduler's `cron_triggers` collection: one document per cron entry of a pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database


class CronStore:
    def __init__(self, db: Database) -> None:
        self.triggers = db.cron_triggers

    def ensure_indexes(self) -> None:
        self.triggers.create_index([("nextRun", ASCENDING)])
        self.triggers.create_index([("pipelineID", ASCENDING)])
        self.triggers.create_index([("projectID", ASCENDING)])

    def replace_pipeline(self, pipeline_id: str, docs: list[dict[str, Any]]) -> None:
        self.triggers.delete_many({"pipelineID": pipeline_id})
        if docs:
            self.triggers.insert_many(docs)

    def update_project(self, project_id: str, project: dict[str, Any]) -> None:
        self.triggers.update_many({"projectID": project_id}, {"$set": {"project": project}})

    def delete_pipelines(self, pipeline_ids: list[str]) -> None:
        self.triggers.delete_many({"pipelineID": {"$in": pipeline_ids}})

    def next_due(self, now: datetime, skip: int = 0) -> dict[str, Any] | None:
        found = list(
            self.triggers.find({"nextRun": {"$lte": now}})
            .sort("nextRun", ASCENDING)
            .skip(skip)
            .limit(1)
        )
        return found[0] if found else None

    def claim(self, due: dict[str, Any], next_run: datetime) -> bool:
        """Move a due trigger to its next tick, atomically: with several scheduler replicas
        exactly one of them wins the tick (and starts its run)."""
        won = self.triggers.update_one(
            {"_id": due["_id"], "nextRun": due["nextRun"]}, {"$set": {"nextRun": next_run}}
        )
        return won.modified_count == 1
