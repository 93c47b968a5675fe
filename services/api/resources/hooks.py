"""SCM hook ingress: POST /api/v1/subversion/{svnrepoid}/postcommithook?revision=N.

Open without the API token, like every webhook endpoint: the SVN hook script of the spec sends
no credential. It can only start runs, at a revision of that repository, of pipelines that
asked for it with a postCommit trigger.
"""

from __future__ import annotations

from typing import Any

import falcon.asgi

from services.api import views
from services.api.clients import Bus
from services.api.domain import postcommit
from services.api.errors import ApiError
from services.api.http import MAX_BODY, query_int
from services.api.store import CatalogStore
from shared.contracts import rpc, services


class SvnPostCommit:
    def __init__(self, store: CatalogStore, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, svnrepoid: str
    ) -> None:
        if req.get_param("revision") is None:
            raise ApiError(400, "query parameter revision is required")
        revision = query_int(req, "revision", 0, minimum=1)
        raw = await req.stream.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise ApiError(413, f"request body is larger than {MAX_BODY} bytes")
        changed = postcommit.changed_paths(raw.decode("utf-8", errors="replace"))
        started: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for pipeline in await self._store.pipelines_of_svn_repo(svnrepoid):
            outcome = await self._run(pipeline, revision, changed)
            (started if "record" in outcome else skipped).append(outcome)
        body: dict[str, Any] = {"revision": revision, "started": started, "skipped": skipped}
        if not started:
            body["message"] = (
                f"no pipeline runs for revision {revision} of repository {svnrepoid}"
                if skipped
                else f"no pipeline has a postCommit trigger on repository {svnrepoid}"
            )
        resp.media = body

    async def _run(
        self, pipeline: dict[str, Any], revision: int, changed: list[str]
    ) -> dict[str, Any]:
        trigger = pipeline["autoTrigger"]["scmTrigger"]["postCommit"]
        named = {"pipeline": pipeline["name"]}
        prefix = postcommit.repo_prefix(
            postcommit.main_svn_url(pipeline) or "", trigger["repoInfo"]["rootURL"]
        )
        if prefix is None or not postcommit.concerns(changed, prefix):
            return {**named, "reason": f"no change under /{prefix or ''} in this revision"}
        owner = await self._store.project_by_id(pipeline["projectID"])
        if owner is None:
            return {**named, "reason": "its project is gone"}
        request = rpc.RecordRequest(
            project=views.snapshot(owner),
            pipeline=views.snapshot(pipeline),
            params={"ref": str(revision), "stages": trigger.get("stages") or []},
            trigger="scmTrigger",
            owner="",
        )
        record = await self._bus.call(services.SCHEDULER, rpc.CREATE_RECORD, request)
        return {**named, "project": owner["name"], "record": record["id"]}
