"""/api/v1/projects/{project}/pipelines and /api/v1/projects/{project}/pipelines/{pipeline}."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from services.api import views
from services.api.clients import Bus
from services.api.domain import postcommit, secrets, validation, webhooks
from services.api.domain.errors import ValidationFailed
from services.api.events import EventPublisher
from services.api.http import MAX_RECENT, paging, query_int, read_json
from services.api.resources import catalog
from services.api.resources.scm import Webhooks
from services.api.store import CatalogStore
from shared.contracts import events, rpc, services
from shared.crypto import SecretBox

PIPELINE = catalog.Kind(validation.pipeline_spec, secrets.pipeline_paths)
RECENT = (
    ("recentCount", "recentRecords"),
    ("recentSuccessCount", "recentSuccessRecords"),
    ("recentFailedCount", "recentFailedRecords"),
)


def recent_counts(req: falcon.asgi.Request) -> dict[str, int]:
    return {field: query_int(req, param, 0, maximum=MAX_RECENT) for param, field in RECENT}


async def recent_records(
    bus: Bus, pipeline_ids: list[str], counts: dict[str, int]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The recent* lists for a page of pipelines: one scheduler call, none when not asked."""
    if not pipeline_ids or not any(counts.values()):
        return {pid: {field: [] for field in counts} for pid in pipeline_ids}
    return await bus.call(services.SCHEDULER, rpc.RECENT_RECORDS, pipeline_ids, counts)


async def saved(
    store: CatalogStore, project: dict[str, Any], pipeline: dict[str, Any]
) -> tuple[tuple[str, str], dict]:
    """The pipeline_saved event: the scheduler keeps what cron-triggered runs need."""
    return (
        events.PIPELINE_SAVED,
        events.PipelineSaved(
            project_id=str(project["_id"]),
            pipeline_id=str(pipeline["_id"]),
            project=views.snapshot(project),
            pipeline=await store.run_snapshot(pipeline),
        ),
    )


def svn_hook_preparer(bus: Bus, box: SecretBox, owner: dict[str, Any]) -> catalog.Prepare:
    """A postCommit trigger needs the repository's UUID and root (what the hook reports);
    the scm service reads them from the repository with the pipeline's credentials."""

    async def prepare(doc: dict[str, Any]) -> None:
        scm_trigger = (doc.get("autoTrigger") or {}).get("scmTrigger") or {}
        if "postCommit" not in scm_trigger:
            return
        url = postcommit.main_svn_url(doc)
        if url is None:
            raise ValidationFailed(
                "a postCommit trigger needs an SVN main repository",
                [{"field": "autoTrigger.scmTrigger.postCommit", "error": "main repo is not SVN"}],
            )
        main = doc["build"]["stages"]["codeCheckout"]["mainRepo"]["svn"]
        scm = owner.get("scm") or {}
        user = main.get("username") or scm.get("username") or ""
        sealed = main.get("password") if main.get("username") else scm.get("password")
        password = box.decrypt(sealed) if sealed else ""
        info = await bus.call(services.SCM, rpc.SVN_REPO_INFO, url, user, password)
        scm_trigger["postCommit"]["repoInfo"] = {"id": info["id"], "rootURL": info["rootURL"]}

    return prepare


class Pipelines:
    def __init__(
        self,
        store: CatalogStore,
        box: SecretBox,
        bus: Bus,
        publisher: EventPublisher,
        hooks: Webhooks,
    ) -> None:
        self._store = store
        self._box = box
        self._bus = bus
        self._publisher = publisher
        self._hooks = hooks

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        start, limit = paging(req)
        counts = recent_counts(req)
        owner = await self._store.projects.get(None, project)
        total, docs = await self._store.pipelines.page(str(owner["_id"]), start, limit)
        recent = await recent_records(self._bus, [str(d["_id"]) for d in docs], counts)
        resp.media = views.page(total, [views.pipeline(d, recent[str(d["_id"])]) for d in docs])

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        body = await read_json(req)
        owner = await self._store.projects.get(None, project)
        svn_prepare = svn_hook_preparer(self._bus, self._box, owner)
        made: list[dict[str, Any]] = []

        async def prepare(doc: dict[str, Any]) -> None:
            await svn_prepare(doc)
            hook = await self._hooks.before_save(owner, doc, self._hooks.plan(owner, doc, None))
            made.extend([hook] if hook else [])

        try:
            doc = await catalog.create(
                self._store.pipelines,
                str(owner["_id"]),
                PIPELINE,
                body,
                self._box,
                req.context.user,
                prepare,
            )
        except BaseException:
            for hook in made:  # registered for a pipeline that was not saved
                await self._hooks.remove(owner, hook)
            raise
        await self._publisher.announce([await saved(self._store, owner, doc)])
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/projects/{project}/pipelines/{doc['name']}"
        resp.media = views.pipeline(doc, {})


class Pipeline:
    def __init__(
        self,
        store: CatalogStore,
        box: SecretBox,
        publisher: EventPublisher,
        bus: Bus,
        hooks: Webhooks,
    ) -> None:
        self._store = store
        self._box = box
        self._publisher = publisher
        self._bus = bus
        self._hooks = hooks

    async def _load(self, project: str, pipeline: str) -> dict[str, Any]:
        return (await self._load_both(project, pipeline))[1]

    async def _load_both(self, project: str, pipeline: str) -> tuple[dict, dict[str, Any]]:
        owner = await self._store.projects.get(None, project)
        return owner, await self._store.pipelines.get(str(owner["_id"]), pipeline)

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        counts = recent_counts(req)
        doc = await self._load(project, pipeline)
        recent = (await recent_records(self._bus, [str(doc["_id"])], counts))[str(doc["_id"])]
        resp.media = views.pipeline(doc, recent)

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        body = await read_json(req)
        owner, stored = await self._load_both(project, pipeline)
        svn_prepare = svn_hook_preparer(self._bus, self._box, owner)
        made: list[dict[str, Any]] = []
        plans: list[webhooks.Plan] = []

        async def prepare(doc: dict[str, Any]) -> None:
            await svn_prepare(doc)
            doc["_id"] = stored["_id"]  # the hook URL names the pipeline's id
            plans.append(self._hooks.plan(owner, doc, stored))
            hook = await self._hooks.before_save(owner, doc, plans[-1])
            made.extend([hook] if hook else [])

        try:
            doc = await catalog.replace(
                self._store.pipelines, stored, PIPELINE, body, self._box, prepare
            )
        except BaseException:
            for hook in made:
                await self._hooks.remove(owner, hook)
            raise
        for plan in plans:
            await self._hooks.remove(owner, plan.delete)
        await self._publisher.announce([await saved(self._store, owner, doc)])
        resp.media = views.pipeline(doc, {})

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str, pipeline: str
    ) -> None:
        owner, stored = await self._load_both(project, pipeline)
        await self._store.pipelines.delete(stored)
        await self._hooks.remove(owner, webhooks.stored_hook(stored))
        payload = events.PipelineDeleted(
            project_id=stored["projectID"],
            project=project,
            pipeline_id=str(stored["_id"]),
            pipeline=stored["name"],
        )
        await self._publisher.announce([(events.PIPELINE_DELETED, payload)])
        resp.status = falcon.HTTP_204
