"""/api/v1/clouds...: the gateway applies the API's rules (shape, secrets), the cloud service
stores clouds and talks to them."""

from __future__ import annotations

import copy

import falcon
import falcon.asgi

from services.api import views
from services.api.clients import CloudClient
from services.api.domain import secrets, validation
from services.api.domain.errors import ValidationFailed
from services.api.errors import ApiError
from services.api.http import read_json
from shared.contracts.catalog import Cloud as CloudDoc
from shared.crypto import SecretBox


def masked(doc: CloudDoc) -> CloudDoc:
    return secrets.masked(copy.deepcopy(doc), secrets.cloud_paths)


class _Clouds:
    def __init__(self, cloud: CloudClient, box: SecretBox) -> None:
        self._cloud = cloud
        self._box = box


class Clouds(_Clouds):
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        items = [masked(c) for c in await self._cloud.list_clouds()]
        resp.media = views.page(len(items), items)

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        doc = validation.cloud_spec(await read_json(req))
        secrets.seal(doc, None, secrets.cloud_paths, self._box.encrypt, self._box.reseal)
        validation.cloud_credentials(doc, None)
        created = await self._cloud.create_cloud(doc)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/clouds/{created['name']}"
        resp.media = masked(created)


class Cloud(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        resp.media = masked(await self._cloud.get_cloud(cloud))

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        doc = validation.cloud_spec(await read_json(req))
        stored = await self._cloud.get_cloud(cloud)
        if doc.get("name", cloud) != cloud:
            raise ValidationFailed(f"name cannot be changed (path names {cloud!r})")
        doc["name"] = cloud
        secrets.seal(doc, stored, secrets.cloud_paths, self._box.encrypt, self._box.reseal)
        validation.cloud_credentials(doc, stored)
        resp.media = masked(await self._cloud.replace_cloud(cloud, doc))

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        await self._cloud.delete_cloud(cloud)
        resp.status = falcon.HTTP_204


class CloudPing(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        resp.media = await self._cloud.ping_cloud(cloud)


class CloudWorkers(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        stored = await self._cloud.get_cloud(cloud)
        namespace = req.get_param("namespace") or None
        k8s = stored.get("kubernetes", {})
        if stored["type"] == "Kubernetes" and not namespace and not k8s.get("inCluster"):
            namespace = k8s.get("namespace")
            if not namespace:
                raise ApiError(400, "query parameter namespace is required for this cloud")
        workers = await self._cloud.list_workers(cloud)
        items = [w for w in workers if namespace is None or w.get("namespace") in (None, namespace)]
        resp.media = views.page(len(items), items)
