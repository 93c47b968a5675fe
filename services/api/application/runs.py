"""Records of a pipeline named by its project and name: looking them up (a record must
belong to the pipeline its URL names), starting runs and reruns, stats."""

from __future__ import annotations

import uuid

from services.api import views
from services.api.clients import SchedulerClient
from services.api.domain.errors import NotFound
from services.api.store import CatalogStore
from shared.contracts import rpc
from shared.contracts.catalog import Pipeline, Project
from shared.contracts.records import PerformParams, RecordView, Stats


class Runs:
    def __init__(self, store: CatalogStore, scheduler: SchedulerClient) -> None:
        self._store = store
        self._scheduler = scheduler

    async def pipeline(self, project: str, pipeline: str) -> tuple[Project, Pipeline]:
        owner = await self._store.projects.get(None, project)
        return owner, await self._store.pipelines.get(owner["id"], pipeline)

    async def record(self, project: str, pipeline: str, record_id: str) -> RecordView:
        """The record, NotFound unless it is one of this pipeline's."""
        _, pl = await self.pipeline(project, pipeline)
        record = await self._scheduler.get_record(record_id)
        if record["pipelineID"] != pl["id"]:
            raise NotFound(f"record {record_id} not found in pipeline {pipeline}")
        return record

    async def start(
        self,
        project: str,
        pipeline: str,
        params: PerformParams,
        user: str,
        given_key: str | None,
    ) -> RecordView:
        """A run as the user asked for it (POST records)."""
        owner, pl = await self.pipeline(project, pipeline)
        # The scheduler stores one record per key (a unique index): a key of the client's,
        # for this pipeline, or one of ours, so that a redelivered call makes no second.
        key = f"post:{pl['id']}:{given_key}" if given_key else uuid.uuid4().hex
        request = rpc.RecordRequest(
            project=views.snapshot(owner),
            pipeline=await self._store.run_snapshot(pl),
            params=params,
            trigger=user or "user",
            owner=user,
            key=key,
            key_given=bool(given_key),
        )
        return await self._scheduler.create_record(request)

    async def rerun(
        self, project: str, pipeline: str, record_id: str, start_from: str, user: str
    ) -> RecordView:
        owner, _ = await self.pipeline(project, pipeline)
        await self.record(project, pipeline, record_id)
        return await self._scheduler.rerun_record(
            record_id, start_from, views.snapshot(owner), user
        )

    async def stats(self, project: str, pipeline: str | None, start: int, end: int) -> Stats:
        """Project stats (`pipeline` None) or pipeline stats over [start, end]."""
        if pipeline is None:
            owner = await self._store.projects.get(None, project)
            scope, scope_id = "projectID", owner["id"]
        else:
            _, pl = await self.pipeline(project, pipeline)
            scope, scope_id = "pipelineID", pl["id"]
        return await self._scheduler.stats(scope, scope_id, start, end)
