"""SCM hook ingress: GitHub and GitLab webhooks, the SVN post-commit hook.

Open without the API token. GitHub and GitLab deliveries are checked against the pipeline's
webhook secret (by the scm service, which also deduplicates and matches them). The SVN hook
script of the spec sends no credential: it can only start runs, at a revision of that
repository, of pipelines that asked for it with a postCommit trigger.
"""

from __future__ import annotations

from typing import Any

import falcon.asgi

from services.api import views
from services.api.clients import Bus
from services.api.domain import postcommit
from services.api.domain.errors import NotFound
from services.api.errors import ApiError
from services.api.http import query_int, read_raw
from services.api.store import CatalogStore
from shared.contracts import rpc, services
from shared.crypto import SecretBox


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
        raw = await read_raw(req)
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
            pipeline=await self._store.run_snapshot(pipeline),
            params={"ref": str(revision), "stages": trigger.get("stages") or []},
            trigger="scmTrigger",
            owner="",
        )
        record = await self._bus.call(services.SCHEDULER, rpc.CREATE_RECORD, request)
        return {**named, "project": owner["name"], "record": record["id"]}


HEADERS = {
    "github": ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"),
    "gitlab": ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token"),
}
WEBHOOK_BODY = 25 * 1024 * 1024  # GitHub caps deliveries at 25 MB


class ScmWebhook:
    """POST /api/v1/pipelines/{pipelineid}/githubwebhook (or gitlabwebhook)."""

    def __init__(self, store: CatalogStore, bus: Bus, box: SecretBox, provider: str) -> None:
        self._store = store
        self._bus = bus
        self._box = box
        self._provider = provider

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, pipelineid: str
    ) -> None:
        body = await read_raw(req, WEBHOOK_BODY)
        pipeline = await self._store.pipeline_by_id(pipelineid)
        project = pipeline and await self._store.project_by_id(pipeline["projectID"])
        if pipeline is None or project is None:
            raise NotFound(f"pipeline {pipelineid} not found")
        event, delivery, signature = (req.get_header(h) or "" for h in HEADERS[self._provider])
        sealed = ((pipeline.get("autoTrigger") or {}).get("scmTrigger") or {}).get("webhookSecret")
        delivery_msg = rpc.WebhookDelivery(
            provider=self._provider,
            event=event,
            delivery_id=delivery or req.get_header("Idempotency-Key") or "",
            signature=signature,
            body=body.decode("utf-8", errors="replace"),
            secret=self._box.decrypt(sealed) if sealed else "",
            project=views.snapshot(project),
            pipeline=await self._store.run_snapshot(pipeline),
        )
        resp.media = await self._bus.call(services.SCM, rpc.RECEIVE_WEBHOOK, delivery_msg)
