"""A record's artifacts (kept by the logs service) and reruns (made by the scheduler).

Files are streamed from the logs service one chunk per call, a few calls ahead of what the
client has taken, so the gateway holds a few MiB whatever the file's size; the tar.gz is
made as it streams (domain/artifacts.TarGz), its compression off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime

import falcon
import falcon.asgi

from services.api import views
from services.api.domain import artifacts as rules
from services.api.errors import ApiError
from services.api.http import read_raw
from services.api.resources.records import _Scoped
from shared.contracts import artifacts as art

PREFETCH = 3  # chunk reads in flight ahead of the client


class Artifacts(_Scoped):
    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        await self._runs.record(project, pipeline, recordid)
        items = await self._logs.list_artifacts(recordid)
        resp.media = views.page(len(items), items)


class _Reader(_Scoped):
    async def _chunks(
        self, record_id: str, file_id: str, start: int, end: int
    ) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of a kept file, PREFETCH reads ahead."""
        offsets = iter(range(start, end + 1, art.CHUNK_SIZE))
        pending: deque[asyncio.Future[str]] = deque()

        def ask(offset: int) -> None:
            length = min(art.CHUNK_SIZE, end + 1 - offset)
            call = self._logs.read_artifact(record_id, file_id, offset, length)
            pending.append(asyncio.ensure_future(call))

        for offset in offsets:
            ask(offset)
            if len(pending) >= PREFETCH:
                break
        try:
            while pending:
                data = base64.b64decode(await pending.popleft())
                following = next(offsets, None)
                if following is not None:
                    ask(following)
                if not data:
                    return  # the file went (deleted with its record meanwhile)
                yield data
        finally:
            for future in pending:
                future.cancel()


class Artifact(_Reader):
    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
        path: str,
    ) -> None:
        await self._runs.record(project, pipeline, recordid)
        item = await self._logs.artifact_info(recordid, path)
        size = int(item["size"])
        resp.set_header("ETag", rules.etag(item["sha256"]))
        resp.set_header("Accept-Ranges", "bytes")
        if rules.etag_matches(req.get_header("If-None-Match"), item["sha256"]):
            resp.status = falcon.HTTP_304
            return
        span = None
        if_range = req.get_header("If-Range")
        if not if_range or if_range.strip() == rules.etag(item["sha256"]):
            try:
                span = rules.byte_range(req.get_header("Range"), size)
            except rules.Unsatisfiable:
                resp.status = falcon.HTTP_416
                resp.set_header("Content-Range", f"bytes */{size}")
                resp.media = {
                    "message": f"range not satisfiable: the file has {size} bytes",
                    "reason": "RangeNotSatisfiable",
                }
                return
        resp.content_type = "application/octet-stream"
        resp.downloadable_as = rules.download_name(item["path"])
        start, end = span if span is not None else (0, size - 1)
        if span is not None:
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        resp.content_length = end - start + 1 if size else 0
        if size:
            resp.stream = self._chunks(recordid, item["id"], start, end)
        else:
            resp.data = b""


class ArtifactsArchive(_Reader):
    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        await self._runs.record(project, pipeline, recordid)
        items = await self._logs.list_artifacts(recordid)
        resp.content_type = "application/gzip"
        resp.downloadable_as = rules.archive_name(project, pipeline, recordid)
        resp.stream = self._archive(recordid, items)

    async def _archive(self, record_id: str, items: list[art.Artifact]) -> AsyncIterator[bytes]:
        gz = rules.TarGz()
        for listed in items:
            try:
                item = await self._logs.artifact_info(record_id, listed["path"])
            except Exception:  # noqa: BLE001 - gone since the listing (its record is deleted)
                continue
            mtime = datetime.fromisoformat(item["creationTime"].replace("Z", "+00:00"))
            yield gz.begin(item["path"], item["size"], item.get("mode", 0o644), mtime.timestamp())
            if item["size"]:
                async for data in self._chunks(record_id, item["id"], 0, item["size"] - 1):
                    out = await asyncio.to_thread(gz.data, data)
                    if out:
                        yield out
            yield gz.end()
        yield gz.close()


class RecordRerun(_Scoped):
    async def on_post(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        raw = await read_raw(req)
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"malformed JSON body: {exc}", "BadRequest") from exc
        start_from = rules.rerun_spec(body)
        user: str = req.context.user or ""
        record = await self._runs.rerun(project, pipeline, recordid, start_from, user)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/projects/{project}/pipelines/{pipeline}/records/{record['id']}"
        resp.media = record
