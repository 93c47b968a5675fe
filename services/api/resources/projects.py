"""/api/v1/projects and /api/v1/projects/{project}."""

from __future__ import annotations

import falcon
import falcon.asgi

from services.api import views
from services.api.domain import secrets, validation
from services.api.domain.merge import merge_patch
from services.api.events import EventPublisher
from services.api.http import paging, read_json
from services.api.resources import catalog
from services.api.resources.scm import CredentialCheck, Webhooks
from services.api.store import CatalogStore
from shared.contracts import events
from shared.crypto import SecretBox

PROJECT = catalog.Kind(
    validation.project_spec, secrets.project_paths, validation.project_credentials
)


class Projects:
    def __init__(self, store: CatalogStore, box: SecretBox, check: CredentialCheck) -> None:
        self._store = store
        self._box = box
        self._check = check

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        start, limit = paging(req)
        total, docs = await self._store.projects.page(None, start, limit)
        resp.media = views.page(total, [views.project(d) for d in docs])

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json(req)
        doc = await catalog.create(
            self._store.projects,
            None,
            PROJECT,
            body,
            self._box,
            req.context.user,
            self._check.preparer(None),
        )
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/projects/{doc['name']}"
        resp.media = views.project(doc)


class Project:
    def __init__(
        self,
        store: CatalogStore,
        box: SecretBox,
        publisher: EventPublisher,
        check: CredentialCheck,
        hooks: Webhooks,
    ) -> None:
        self._store = store
        self._box = box
        self._publisher = publisher
        self._check = check
        self._hooks = hooks

    async def _announce_saved(self, doc: dict) -> None:
        payload = events.ProjectSaved(project_id=str(doc["_id"]), project=views.snapshot(doc))
        await self._publisher.announce([(events.PROJECT_SAVED, payload)])

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        resp.media = views.project(await self._store.projects.get(None, project))

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        body = await read_json(req)
        stored = await self._store.projects.get(None, project)
        doc = await catalog.replace(
            self._store.projects, stored, PROJECT, body, self._box, self._check.preparer(stored)
        )
        await self._announce_saved(doc)
        resp.media = views.project(doc)

    async def on_patch(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        """A partial update: the body is merged into the stored project (RFC 7396)."""
        body = await read_json(req)
        if not isinstance(body, dict):
            body = validation.project_spec(body)  # raises: a patch must be an object
        stored = await self._store.projects.get(None, project)
        merged = merge_patch(views.project(stored), body)
        doc = await catalog.replace(
            self._store.projects, stored, PROJECT, merged, self._box, self._check.preparer(stored)
        )
        await self._announce_saved(doc)
        resp.media = views.project(doc)

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        """Deletes the project and its pipelines (and their webhooks on the SCM), then tells
        other services to clean up."""
        stored = await self._store.projects.get(None, project)
        project_id = str(stored["_id"])
        pipelines = await self._store.pipelines.all_in_scope(project_id)
        await self._store.pipelines.delete_scope(project_id)
        await self._store.projects.delete(stored)
        await self._store.post_commit_runs.forget([str(p["_id"]) for p in pipelines])
        await self._hooks.remove_all(stored, pipelines)
        announced: list[tuple[tuple[str, str], dict]] = [
            (
                events.PIPELINE_DELETED,
                events.PipelineDeleted(
                    project_id=project_id,
                    project=project,
                    pipeline_id=str(p["_id"]),
                    pipeline=p["name"],
                ),
            )
            for p in pipelines
        ]
        announced.append(
            (
                events.PROJECT_DELETED,
                events.ProjectDeleted(
                    project_id=project_id,
                    project=project,
                    pipeline_ids=[str(p["_id"]) for p in pipelines],
                ),
            )
        )
        await self._publisher.announce(announced)
        resp.status = falcon.HTTP_204
