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

import falcon.asgi

from services.api.application.hooks import (
    Deliveries,
    PostCommitOutcome,
    PostCommits,
    sealed_secret,
)
from services.api.bodygate import HOOK_BODY
from services.api.domain import postcommit, signatures
from services.api.errors import ApiError
from services.api.http import query_int, read_raw, refuse_declared_excess
from shared.crypto import SecretBox

SVN_SECRET_HEADER = "X-Cyclone-Secret"


def header_text(req: falcon.asgi.Request, name: str) -> str:
    """A header as the sender wrote it: ASGI gives latin-1, senders write UTF-8."""
    value = req.get_header(name) or ""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class SvnPostCommit:
    """POST /api/v1/subversion/{svnrepoid}/postcommithook?revision=N, from the hook script."""

    def __init__(self, post_commits: PostCommits) -> None:
        self._post_commits = post_commits

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
        # Only the pipelines whose secret matches are named in the answer.
        pipelines = await self._post_commits.opened_by(svnrepoid, given)
        if not pipelines:
            raise ApiError(
                401,
                f"{SVN_SECRET_HEADER} is not the webhookSecret of any pipeline with a postCommit"
                f" trigger on repository {svnrepoid}",
            )
        raw = await read_raw(req, HOOK_BODY)
        changed = postcommit.changed_paths(raw.decode("utf-8", errors="replace"))
        started: list[PostCommitOutcome] = []
        skipped: list[PostCommitOutcome] = []
        for pipeline in pipelines:
            outcome = await self._post_commits.run(pipeline, svnrepoid, revision, changed)
            (started if "record" in outcome else skipped).append(outcome)
        body: dict[str, object] = {"revision": revision, "started": started, "skipped": skipped}
        if not started:
            body["message"] = f"no pipeline runs for revision {revision} of repository {svnrepoid}"
        resp.media = body


HEADERS = {
    "github": ("X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"),
    "gitlab": ("X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token"),
}


class ScmWebhook:
    """POST /api/v1/pipelines/{pipelineid}/githubwebhook (or gitlabwebhook).

    Verified here, then sent to the scm service (dedupe by delivery id, trigger matching, the
    run) without the signature or the secret.
    """

    def __init__(self, deliveries: Deliveries, box: SecretBox, provider: str) -> None:
        self._deliveries = deliveries
        self._box = box
        self._provider = provider

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, pipelineid: str
    ) -> None:
        refuse_declared_excess(req, HOOK_BODY)
        pipeline, project = await self._deliveries.target(pipelineid)
        event_header, delivery_header, signature_header = HEADERS[self._provider]
        sealed = sealed_secret(pipeline)
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
        resp.media = await self._deliveries.deliver(
            pipeline,
            project,
            self._provider,
            req.get_header(event_header) or "",
            req.get_header(delivery_header) or req.get_header("Idempotency-Key") or "",
            body,
        )
