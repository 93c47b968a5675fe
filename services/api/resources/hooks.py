"""SCM hook ingress: GitHub and GitLab webhooks, the SVN post-commit hook.

Open without the API token, so each refuses what it can at the lowest cost, before anything
leaves the gateway (docs/api.md, "SVN post-commit hook", "GitHub and GitLab webhooks"):

- bodies over 5 MiB are 413, by Content-Length before a byte is read (services/api/bodygate.py,
  and again here), and for chunked bodies as soon as the bytes received pass the limit;
- the caller must prove the pipeline's `autoTrigger.scmTrigger.webhookSecret` (GitHub: an
  HMAC of the body; GitLab and SVN: the secret itself in a header), compared in constant time
  here: a failure is 401 and nothing is sent to another service. The decrypted secret never
  leaves the gateway.
- SVN: a revision starts a pipeline at most once (`post_commit_runs`, services/api/store.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import falcon.asgi

from services.api import views
from services.api.bodygate import HOOK_BODY
from services.api.clients import Bus
from services.api.domain import postcommit, signatures
from services.api.domain.errors import NotFound
from services.api.errors import ApiError
from services.api.http import query_int, read_raw, refuse_declared_excess
from services.api.store import CatalogStore, PostCommitRuns
from shared.contracts import rpc, services
from shared.crypto import SecretBox

SVN_SECRET_HEADER = "X-Cyclone-Secret"


def header_text(req: falcon.asgi.Request, name: str) -> str:
    """A header as the sender wrote it: ASGI gives latin-1, senders write UTF-8."""
    value = req.get_header(name) or ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _sealed_secret(pipeline: dict[str, Any]) -> str | None:
    return ((pipeline.get("autoTrigger") or {}).get("scmTrigger") or {}).get("webhookSecret")


class SvnPostCommit:
    """POST /api/v1/subversion/{svnrepoid}/postcommithook?revision=N, from the hook script."""

    def __init__(self, store: CatalogStore, bus: Bus, box: SecretBox) -> None:
        self._store = store
        self._bus = bus
        self._box = box

    def _opens(self, pipeline: dict[str, Any], given: str) -> bool:
        sealed = _sealed_secret(pipeline)
        return bool(sealed) and signatures.same_secret(self._box.decrypt(sealed), given)

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, svnrepoid: str
    ) -> None:
        given = header_text(req, SVN_SECRET_HEADER)
        if not given:
            raise ApiError(
                401,
                f"the {SVN_SECRET_HEADER} header is required: the webhookSecret of a pipeline"
                " with a postCommit trigger on this repository",
            )
        if req.get_param("revision") is None:
            raise ApiError(400, "query parameter revision is required")
        revision = query_int(req, "revision", 0, minimum=1)
        refuse_declared_excess(req, HOOK_BODY)
        # Every candidate is compared (no early exit), and only the pipelines whose secret
        # matches are named in the answer: one pipeline's secret reveals no other pipeline.
        candidates = await self._store.pipelines_of_svn_repo(svnrepoid)
        pipelines = [p for p in candidates if self._opens(p, given)]
        if not pipelines:
            raise ApiError(
                401,
                f"{SVN_SECRET_HEADER} is not the webhookSecret of any pipeline with a postCommit"
                f" trigger on repository {svnrepoid}",
            )
        raw = await read_raw(req, HOOK_BODY)
        changed = postcommit.changed_paths(raw.decode("utf-8", errors="replace"))
        started: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        for pipeline in pipelines:
            outcome = await self._run(pipeline, svnrepoid, revision, changed)
            (started if "record" in outcome else skipped).append(outcome)
        body: dict[str, Any] = {"revision": revision, "started": started, "skipped": skipped}
        if not started:
            body["message"] = f"no pipeline runs for revision {revision} of repository {svnrepoid}"
        resp.media = body

    async def _run(
        self, pipeline: dict[str, Any], repo_id: str, revision: int, changed: list[str]
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
        runs = self._store.post_commit_runs
        pipeline_id = str(pipeline["_id"])
        key = PostCommitRuns.key(pipeline_id, repo_id, revision)
        taken = await runs.claim(key, pipeline_id)
        if taken is not None:
            by = f"record {taken['record']}" if taken.get("record") else "a run (just now)"
            return {**named, "reason": f"revision {revision} already started {by}"}
        request = rpc.RecordRequest(
            project=views.snapshot(owner),
            pipeline=await self._store.run_snapshot(pipeline),
            params={"ref": str(revision), "stages": trigger.get("stages") or []},
            trigger="scmTrigger",
            owner="",
            key=uuid.uuid4().hex,
        )
        try:
            record = await self._bus.call(services.SCHEDULER, rpc.CREATE_RECORD, request)
        except BaseException:
            await runs.release(key)  # no run: the hook may be sent again
            raise
        await runs.started(key, record["id"])
        return {**named, "project": owner["name"], "record": record["id"]}


HEADERS = {
    "github": ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"),
    "gitlab": ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token"),
}


class ScmWebhook:
    """POST /api/v1/pipelines/{pipelineid}/githubwebhook (or gitlabwebhook).

    Verified here, then sent to the scm service (dedupe by delivery id, trigger matching, the
    run) without the signature or the secret.
    """

    def __init__(self, store: CatalogStore, bus: Bus, box: SecretBox, provider: str) -> None:
        self._store = store
        self._bus = bus
        self._box = box
        self._provider = provider

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, pipelineid: str
    ) -> None:
        refuse_declared_excess(req, HOOK_BODY)
        pipeline = await self._store.pipeline_by_id(pipelineid)
        project = pipeline and await self._store.project_by_id(pipeline["projectID"])
        if pipeline is None or project is None:
            raise NotFound(f"pipeline {pipelineid} not found")
        event_header, delivery_header, signature_header = HEADERS[self._provider]
        sealed = _sealed_secret(pipeline)
        if not sealed:
            raise ApiError(
                401, "the pipeline has no webhook secret (autoTrigger.scmTrigger.webhookSecret)"
            )
        secret = self._box.decrypt(sealed)
        signature = header_text(req, signature_header)
        wrong = ApiError(401, f"missing or wrong {signature_header}")
        if self._provider == "gitlab" and not signatures.verify_gitlab(secret, signature):
            raise wrong  # GitLab sends the secret itself: refused before the body is read
        body = await read_raw(req, HOOK_BODY)
        if self._provider == "github" and not signatures.verify_github(secret, body, signature):
            raise wrong
        delivery = rpc.WebhookDelivery(
            provider=self._provider,
            event=req.get_header(event_header) or "",
            delivery_id=req.get_header(delivery_header) or req.get_header("Idempotency-Key") or "",
            body=body.decode("utf-8", errors="replace"),
            project=views.snapshot(project),
            pipeline=await self._store.run_snapshot(pipeline),
        )
        resp.media = await self._bus.call(services.SCM, rpc.RECEIVE_WEBHOOK, delivery)
