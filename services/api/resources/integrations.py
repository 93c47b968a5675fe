"""/api/v1/integrations and /api/v1/integrations/{integration} (SonarQube)."""

from __future__ import annotations

import falcon
import falcon.asgi

from services.api import views
from services.api.application import catalog
from services.api.domain import secrets, validation
from services.api.http import paging, read_json
from services.api.store import CatalogStore
from shared.contracts.catalog import Integration as IntegrationDoc
from shared.crypto import SecretBox

INTEGRATION: catalog.Kind[IntegrationDoc] = catalog.Kind(
    validation.integration_spec, secrets.integration_paths, validation.integration_token
)


class Integrations:
    def __init__(self, store: CatalogStore, box: SecretBox) -> None:
        self._store = store
        self._box = box

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        start, limit = paging(req)
        total, docs = await self._store.integrations.page(None, start, limit)
        resp.media = views.page(total, [views.integration(d) for d in docs])

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await read_json(req)
        doc = await catalog.create(self._store.integrations, None, INTEGRATION, body, self._box, "")
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/integrations/{doc['name']}"
        resp.media = views.integration(doc)


class Integration:
    def __init__(self, store: CatalogStore, box: SecretBox) -> None:
        self._store = store
        self._box = box

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, integration: str
    ) -> None:
        resp.media = views.integration(await self._store.integrations.get(None, integration))

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, integration: str
    ) -> None:
        body = await read_json(req)
        stored = await self._store.integrations.get(None, integration)
        doc = await catalog.replace(self._store.integrations, stored, INTEGRATION, body, self._box)
        resp.media = views.integration(doc)

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, integration: str
    ) -> None:
        stored = await self._store.integrations.get(None, integration)
        await self._store.integrations.delete(stored)
        resp.status = falcon.HTTP_204
