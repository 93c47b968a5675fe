"""/api/v1/projects and /api/v1/projects/{project}."""

from __future__ import annotations

import falcon
import falcon.asgi

from services.api import views
from services.api.application.projects import Projects as Service
from services.api.http import paging, read_json
from services.api.store import CatalogStore


class Projects:
    def __init__(self, store: CatalogStore, projects: Service) -> None:
        self._store = store
        self._projects = projects

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        start, limit = paging(req)
        total, docs = await self._store.projects.page(None, start, limit)
        resp.media = views.page(total, [views.project(d) for d in docs])

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json(req)
        doc = await self._projects.create(body, req.context.user)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/projects/{doc['name']}"
        resp.media = views.project(doc)


class Project:
    def __init__(self, store: CatalogStore, projects: Service) -> None:
        self._store = store
        self._projects = projects

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        resp.media = views.project(await self._store.projects.get(None, project))

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        body = await read_json(req)
        resp.media = views.project(await self._projects.replace(project, body))

    async def on_patch(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        """A partial update: the body is merged into the stored project (RFC 7396)."""
        body = await read_json(req)
        resp.media = views.project(await self._projects.patch(project, body))

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        """Deletes the project and its pipelines (and their webhooks on the SCM), then tells
        other services to clean up."""
        await self._projects.delete(project)
        resp.status = falcon.HTTP_204
