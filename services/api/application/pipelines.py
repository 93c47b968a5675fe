"""Pipelines: listing them with their recent records, saving them (the SVN hook's repository
and secret, the SCM webhook, the event), deleting them."""

from __future__ import annotations

import secrets as random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.api import views
from services.api.application import catalog
from services.api.application.scm import WebhookRegistrar
from services.api.clients import SchedulerClient, ScmClient
from services.api.domain import postcommit, secrets, validation, webhooks
from services.api.domain.errors import ValidationFailed
from services.api.domain.webhooks import Plan
from services.api.events import EventPublisher
from services.api.store import Announced, CatalogStore
from shared.contracts import events
from shared.contracts.catalog import Pipeline, Project, Webhook, main_repo
from shared.contracts.records import RecordView
from shared.crypto import SecretBox

PIPELINE: catalog.Kind[Pipeline] = catalog.Kind(
    validation.pipeline_spec, secrets.pipeline_paths, owned=True
)
Recent = dict[str, list[RecordView]]  # recentRecords, ... as the query asked for them


async def saved_event(store: CatalogStore, project: Project, pipeline: Pipeline) -> Announced:
    """The pipeline_saved event: the scheduler keeps what cron-triggered runs need."""
    return (
        events.PIPELINE_SAVED,
        events.PipelineSaved(
            project_id=project["id"],
            pipeline_id=pipeline["id"],
            project=views.snapshot(project),
            pipeline=await store.run_snapshot(pipeline),
        ),
    )


class SvnHookPreparer:
    """What a postCommit trigger needs before the pipeline is saved.

    - The repository's UUID and root (what the hook reports): the scm service reads them from
      the repository with the pipeline's credentials.
    - A webhookSecret, the hook's credential (X-Cyclone-Secret): a given one is kept (sealed
      like every secret); without one, one is generated, and shown in the answer to this save
      only (`generated`). Later answers mask it; a PUT with `""` makes a new one.
    """

    def __init__(self, scm: ScmClient, box: SecretBox, owner: Project) -> None:
        self._scm = scm
        self._box = box
        self._owner = owner
        self.generated = ""

    async def __call__(self, doc: Pipeline) -> None:
        scm_trigger = webhooks.scm_trigger(doc)
        post_commit = scm_trigger.get("postCommit")
        if post_commit is None:
            return
        url = postcommit.main_svn_url(doc)
        if url is None:
            raise ValidationFailed(
                "a postCommit trigger needs an SVN main repository",
                [{"field": "autoTrigger.scmTrigger.postCommit", "error": "main repo is not SVN"}],
            )
        main = main_repo(doc).get("svn", {})
        scm = self._owner.get("scm", {})
        user = main.get("username") or scm.get("username") or ""
        sealed = main.get("password") if main.get("username") else scm.get("password")
        password = self._box.decrypt(sealed) if sealed else ""
        info = await self._scm.svn_repo_info(url, user, password)
        post_commit["repoInfo"] = {"id": info["id"], "rootURL": info["rootURL"]}
        if not scm_trigger.get("webhookSecret"):  # sealed already (catalog: seal, then prepare)
            self.generated = random.token_urlsafe(32)
            scm_trigger["webhookSecret"] = self._box.encrypt(self.generated)


@dataclass(frozen=True)
class Saved:
    pipeline: Pipeline
    generated_secret: str = ""  # a postCommit webhookSecret this save made: shown once


class Pipelines:
    def __init__(
        self,
        store: CatalogStore,
        box: SecretBox,
        scheduler: SchedulerClient,
        scm: ScmClient,
        publisher: EventPublisher,
        hooks: WebhookRegistrar,
    ) -> None:
        self._store = store
        self._box = box
        self._scheduler = scheduler
        self._scm = scm
        self._publisher = publisher
        self._hooks = hooks

    async def _both(self, project: str, pipeline: str) -> tuple[Project, Pipeline]:
        owner = await self._store.projects.get(None, project)
        return owner, await self._store.pipelines.get(owner["id"], pipeline)

    async def recent(self, pipeline_ids: list[str], counts: dict[str, int]) -> dict[str, Recent]:
        """The recent* lists for a page of pipelines: one scheduler call, none when not asked."""
        if not pipeline_ids or not any(counts.values()):
            return {pid: {field: [] for field in counts} for pid in pipeline_ids}
        return await self._scheduler.recent_records(pipeline_ids, counts)

    async def page(
        self, project: str, start: int, limit: int, counts: dict[str, int]
    ) -> views.Page:
        owner = await self._store.projects.get(None, project)
        total, docs = await self._store.pipelines.page(owner["id"], start, limit)
        recent = await self.recent([d["id"] for d in docs], counts)
        return views.page(total, [views.pipeline(d, recent[d["id"]]) for d in docs])

    async def get(self, project: str, pipeline: str, counts: dict[str, int]) -> views.PipelineView:
        _, doc = await self._both(project, pipeline)
        recent = (await self.recent([doc["id"]], counts))[doc["id"]]
        return views.pipeline(doc, recent)

    async def create(self, project: str, body: object, user: str) -> Saved:
        owner = await self._store.projects.get(None, project)

        def write(prepare: catalog.Prepare[Pipeline]) -> Awaitable[Pipeline]:
            repo = self._store.pipelines
            return catalog.create(repo, owner["id"], PIPELINE, body, self._box, user, prepare)

        return await self._save(owner, None, write)

    async def replace(self, project: str, pipeline: str, body: object) -> Saved:
        owner, stored = await self._both(project, pipeline)

        def write(prepare: catalog.Prepare[Pipeline]) -> Awaitable[Pipeline]:
            repo = self._store.pipelines
            return catalog.replace(repo, stored, PIPELINE, body, self._box, prepare)

        return await self._save(owner, stored, write)

    async def _save(
        self,
        owner: Project,
        stored: Pipeline | None,
        write: Callable[[catalog.Prepare[Pipeline]], Awaitable[Pipeline]],
    ) -> Saved:
        """Save with the SCM in step: the webhook is created or updated before the save (a
        refusal saves nothing), removed again when the save fails, and the hook it replaces
        removed after it; then the pipeline_saved event."""
        svn_prepare = SvnHookPreparer(self._scm, self._box, owner)
        made: list[Webhook] = []
        plans: list[Plan] = []

        async def prepare(doc: Pipeline) -> None:
            await svn_prepare(doc)
            if stored is not None:
                doc["id"] = stored["id"]  # the hook URL names the pipeline's id
            plans.append(self._hooks.plan(owner, doc, stored))
            hook = await self._hooks.before_save(owner, doc, plans[-1])
            made.extend([hook] if hook else [])

        try:
            doc = await write(prepare)
        except BaseException:
            for hook in made:  # registered for a pipeline that was not saved
                await self._hooks.remove(owner, hook)
            raise
        for plan in plans:
            await self._hooks.remove(owner, plan.delete)
        await self._publisher.announce([await saved_event(self._store, owner, doc)])
        return Saved(doc, svn_prepare.generated)

    async def delete(self, project: str, pipeline: str) -> None:
        owner, stored = await self._both(project, pipeline)
        await self._store.pipelines.delete(stored)
        await self._store.post_commit_runs.forget([stored["id"]])
        await self._hooks.remove(owner, webhooks.stored_hook(stored))
        payload = events.PipelineDeleted(
            project_id=stored["projectID"],
            project=project,
            pipeline_id=stored["id"],
            pipeline=stored["name"],
        )
        await self._publisher.announce([(events.PIPELINE_DELETED, payload)])
