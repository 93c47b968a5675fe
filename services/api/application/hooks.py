"""What SCM hooks start once the resource checked the request (services/api/resources/
hooks.py): the SVN post-commit hook's runs, GitHub and GitLab deliveries for the scm service.
"""

from __future__ import annotations

import uuid

from typing_extensions import TypedDict

from services.api import views
from services.api.clients import SchedulerClient, ScmClient
from services.api.domain import postcommit, signatures, webhooks
from services.api.domain.errors import NotFound
from services.api.store import CatalogStore, PostCommitRuns
from shared.contracts import rpc
from shared.contracts.catalog import Pipeline, Project
from shared.crypto import SecretBox


class PostCommitOutcome(TypedDict, total=False):
    """What the hook's answer says of one pipeline: the record it started, or why not."""

    pipeline: str
    project: str
    record: str
    reason: str


def sealed_secret(pipeline: Pipeline) -> str | None:
    """The pipeline's webhookSecret as stored (sealed), None when it has none."""
    return webhooks.scm_trigger(pipeline).get("webhookSecret")


class PostCommits:
    """The SVN post-commit hook: which pipelines a secret opens, and their runs (once per
    revision: `post_commit_runs`)."""

    def __init__(self, store: CatalogStore, box: SecretBox, scheduler: SchedulerClient) -> None:
        self._store = store
        self._box = box
        self._scheduler = scheduler

    def _opens(self, pipeline: Pipeline, given: str) -> bool:
        sealed = sealed_secret(pipeline)
        if not sealed:
            return False
        return signatures.same_secret(self._box.decrypt(sealed), given)

    async def opened_by(self, repo_id: str, given: str) -> list[Pipeline]:
        """The postCommit pipelines on the repository whose secret is `given`. Every candidate
        is compared (no early exit), so one pipeline's secret reveals no other pipeline."""
        candidates = await self._store.pipelines_of_svn_repo(repo_id)
        return [p for p in candidates if self._opens(p, given)]

    async def run(
        self, pipeline: Pipeline, repo_id: str, revision: int, changed: list[str]
    ) -> PostCommitOutcome:
        trigger = webhooks.scm_trigger(pipeline).get("postCommit", {})
        named = PostCommitOutcome(pipeline=pipeline["name"])
        root = trigger.get("repoInfo", {}).get("rootURL", "")
        prefix = postcommit.repo_prefix(postcommit.main_svn_url(pipeline) or "", root)
        if prefix is None or not postcommit.concerns(changed, prefix):
            return {**named, "reason": f"no change under /{prefix or ''} in this revision"}
        owner = await self._store.project_by_id(pipeline["projectID"])
        if owner is None:
            return {**named, "reason": "its project is gone"}
        runs = self._store.post_commit_runs
        key = PostCommitRuns.key(pipeline["id"], repo_id, revision)
        taken = await runs.claim(key, pipeline["id"])
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
            record = await self._scheduler.create_record(request)
        except BaseException:
            await runs.release(key)  # no run: the hook may be sent again
            raise
        await runs.started(key, record["id"])
        return {**named, "project": owner["name"], "record": record["id"]}


class Deliveries:
    """GitHub and GitLab deliveries: the pipeline a hook URL names, and the delivery sent on
    to the scm service (without the signature or the secret) once the resource verified it."""

    def __init__(self, store: CatalogStore, scm: ScmClient) -> None:
        self._store = store
        self._scm = scm

    async def target(self, pipeline_id: str) -> tuple[Pipeline, Project]:
        pipeline = await self._store.pipeline_by_id(pipeline_id)
        project = (
            None if pipeline is None else await self._store.project_by_id(pipeline["projectID"])
        )
        if pipeline is None or project is None:
            raise NotFound(f"pipeline {pipeline_id} not found")
        return pipeline, project

    async def deliver(
        self,
        pipeline: Pipeline,
        project: Project,
        provider: str,
        event: str,
        delivery_id: str,
        body: bytes,
    ) -> rpc.WebhookOutcome:
        delivery = rpc.WebhookDelivery(
            provider=provider,
            event=event,
            delivery_id=delivery_id,
            body=body.decode("utf-8", errors="replace"),
            project=views.snapshot(project),
            pipeline=await self._store.run_snapshot(pipeline),
        )
        return await self._scm.receive_webhook(delivery)
