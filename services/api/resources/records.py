"""Records, their status, logs and stats: the gateway checks names and shapes, the scheduler
(records) and the logs service (lines) answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import falcon
import falcon.asgi

from services.api import views
from services.api.clients import Bus
from services.api.domain import queries, schemas, validation
from services.api.domain.errors import NotFound
from services.api.errors import ApiError
from services.api.http import paging, query_flag, query_int, read_json
from services.api.store import CatalogStore
from shared.contracts import rpc, services

LOG_CHUNK = 10000  # the logs service's largest read; fewer round trips on long logs


class _Scoped:
    """Shared lookups: project and pipeline by name, a record that must belong to them."""

    def __init__(self, store: CatalogStore, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def _pipeline(self, project: str, pipeline: str) -> tuple[dict, dict]:
        owner = await self._store.projects.get(None, project)
        return owner, await self._store.pipelines.get(str(owner["_id"]), pipeline)

    async def _record(self, project: str, pipeline: str, record_id: str) -> dict[str, Any]:
        _, pl = await self._pipeline(project, pipeline)
        record = await self._bus.call(services.SCHEDULER, rpc.GET_RECORD, record_id)
        if record["pipelineID"] != str(pl["_id"]):
            raise NotFound(f"record {record_id} not found in pipeline {pipeline}")
        return record


class Records(_Scoped):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        start, limit = paging(req)
        _, pl = await self._pipeline(project, pipeline)
        page = await self._bus.call(
            services.SCHEDULER, rpc.LIST_RECORDS, str(pl["_id"]), start, limit
        )
        resp.media = views.page(page["total"], page["items"])

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        try:
            given = queries.idempotency_key(req.get_header("Idempotency-Key"))
        except ValueError as exc:
            raise ApiError(400, str(exc), "BadRequest") from exc
        params = validation.record_spec(await read_json(req))
        owner, pl = await self._pipeline(project, pipeline)
        # The scheduler stores one record per key (a unique index): a key of the client's,
        # for this pipeline, or one of ours, so that a redelivered call makes no second.
        key = f"post:{pl['_id']}:{given}" if given else uuid.uuid4().hex
        request = rpc.RecordRequest(
            project=views.snapshot(owner),
            pipeline=await self._store.run_snapshot(pl),
            params=params,  # type: ignore[typeddict-item]
            trigger=req.context.user or "user",
            owner=req.context.user,
            key=key,
        )
        record = await self._bus.call(services.SCHEDULER, rpc.CREATE_RECORD, request)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/projects/{project}/pipelines/{pipeline}/records/{record['id']}"
        resp.media = record


class Record(_Scoped):
    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        resp.media = await self._record(project, pipeline, recordid)

    async def on_delete(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        await self._record(project, pipeline, recordid)
        await self._bus.call(services.SCHEDULER, rpc.DELETE_RECORD, recordid)
        resp.status = falcon.HTTP_204


class RecordStatus(_Scoped):
    async def on_patch(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        validation.status_spec(await read_json(req))
        await self._record(project, pipeline, recordid)
        resp.media = await self._bus.call(services.SCHEDULER, rpc.ABORT_RECORD, recordid)


class RecordLogs(_Scoped):
    """The stored log as text/plain, streamed in chunks (never loaded whole)."""

    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        stage = req.get_param("stage") or None
        task = req.get_param("task") or None
        if stage is not None and stage not in schemas.STAGES:
            raise ApiError(
                400, f"unknown stage {stage!r}; one of {list(schemas.STAGES)}", "BadRequest"
            )
        download = query_flag(req, queries.DOWNLOAD["name"])
        record = await self._record(project, pipeline, recordid)
        if stage is not None and stage not in record["stageStatus"]:
            raise NotFound(f"stage {stage} did not run in record {recordid}")
        if task is not None:
            tasks = record["stageStatus"].get(stage or "", {}).get("tasks") or []
            if task not in [t.get("name") for t in tasks]:
                raise NotFound(f"task {task} not found in record {recordid}")
        resp.content_type = "text/plain; charset=utf-8"
        if download:
            filename = f"{project}-{pipeline}-{recordid}-log.txt"
            resp.downloadable_as = filename
        resp.stream = self._lines(recordid, stage, task)

    async def _lines(self, record_id: str, stage: str | None, task: str | None) -> AsyncIterator:
        after = 0
        while True:
            chunk = await self._bus.call(
                services.LOGS, rpc.READ_LOG, record_id, stage, task, after, LOG_CHUNK
            )
            if chunk["lines"]:
                yield ("\n".join(chunk["lines"]) + "\n").encode()
            if len(chunk["lines"]) < LOG_CHUNK or chunk["next"] <= after:
                return
            after = chunk["next"]


class Stats(_Scoped):
    """Project stats (`pipeline` None) or pipeline stats over [startTime, endTime]."""

    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str | None = None,
    ) -> None:
        for name in ("startTime", "endTime"):
            if not req.get_param(name):
                raise ApiError(400, f"query parameter {name} is required (unix seconds)")
        start = query_int(req, "startTime", 0)
        end = query_int(req, "endTime", 0)
        if end < start:
            raise ApiError(400, "startTime must be less than or equal to endTime", "BadRequest")
        if end - start > queries.MAX_STATS_DAYS * 86400:
            raise ApiError(
                400, f"the range may span at most {queries.MAX_STATS_DAYS} days", "BadRequest"
            )
        if pipeline is None:
            owner = await self._store.projects.get(None, project)
            scope, scope_id = "projectID", str(owner["_id"])
        else:
            _, pl = await self._pipeline(project, pipeline)
            scope, scope_id = "pipelineID", str(pl["_id"])
        resp.media = await self._bus.call(
            services.SCHEDULER, rpc.STATS, scope, scope_id, start, end
        )
