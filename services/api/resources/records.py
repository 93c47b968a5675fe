"""Records, their status, logs and stats: the gateway checks names and shapes, the scheduler
(records) and the logs service (lines) answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import falcon
import falcon.asgi

from services.api import views
from services.api.application.runs import Runs
from services.api.clients import LogsClient, SchedulerClient
from services.api.domain import queries, schemas, validation
from services.api.domain.errors import NotFound
from services.api.errors import ApiError
from services.api.http import paging, query_flag, query_int, read_json

LOG_CHUNK = 10000  # the logs service's largest read; fewer round trips on long logs


class _Scoped:
    """What the resources under a pipeline share: its runs (records looked up by names), the
    scheduler and the logs service."""

    def __init__(self, runs: Runs, scheduler: SchedulerClient, logs: LogsClient) -> None:
        self._runs = runs
        self._scheduler = scheduler
        self._logs = logs


class Records(_Scoped):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        start, limit = paging(req)
        _, pl = await self._runs.pipeline(project, pipeline)
        page = await self._scheduler.list_records(pl["id"], start, limit)
        resp.media = views.page(page["total"], page["items"])

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        try:
            given = queries.idempotency_key(req.get_header("Idempotency-Key"))
        except ValueError as exc:
            raise ApiError(400, str(exc), "BadRequest") from exc
        params = validation.record_spec(await read_json(req))
        user: str = req.context.user
        record = await self._runs.start(project, pipeline, params, user, given)
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
        resp.media = await self._runs.record(project, pipeline, recordid)

    async def on_delete(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        await self._runs.record(project, pipeline, recordid)
        await self._scheduler.delete_record(recordid)
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
        await self._runs.record(project, pipeline, recordid)
        resp.media = await self._scheduler.abort_record(recordid)


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
        record = await self._runs.record(project, pipeline, recordid)
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

    async def _lines(
        self, record_id: str, stage: str | None, task: str | None
    ) -> AsyncIterator[bytes]:
        after = 0
        while True:
            chunk = await self._logs.read_log(record_id, stage, task, after, LOG_CHUNK)
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
        resp.media = await self._runs.stats(project, pipeline, start, end)
