"""/api/v1/clouds...: the gateway applies the API's rules (shape, secrets), the cloud service
stores clouds and talks to them."""

from __future__ import annotations

import copy
from typing import Any

import falcon
import falcon.asgi

from services.api import views
from services.api.clients import Bus
from services.api.domain import secrets, validation
from services.api.domain.errors import ValidationFailed
from services.api.errors import ApiError
from services.api.http import read_json
from shared.contracts import rpc, services
from shared.crypto import SecretBox


def masked(doc: dict[str, Any]) -> dict[str, Any]:
    return secrets.masked(copy.deepcopy(doc), secrets.cloud_paths)


class _Clouds:
    def __init__(self, bus: Bus, box: SecretBox) -> None:
        self._bus = bus
        self._box = box

    async def _call(self, method: str, *args: Any) -> Any:
        return await self._bus.call(services.CLOUD, method, *args)


class Clouds(_Clouds):
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        items = [masked(c) for c in await self._call(rpc.LIST_CLOUDS)]
        resp.media = views.page(len(items), items)

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        doc = validation.cloud_spec(await read_json(req))
        secrets.seal(doc, None, secrets.cloud_paths, self._box.encrypt, self._box.reseal)
        validation.cloud_credentials(doc, None)
        created = await self._call(rpc.CREATE_CLOUD, doc)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/clouds/{created['name']}"
        resp.media = masked(created)


class Cloud(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        resp.media = masked(await self._call(rpc.GET_CLOUD, cloud))

    async def on_put(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        doc = validation.cloud_spec(await read_json(req))
        stored = await self._call(rpc.GET_CLOUD, cloud)
        if doc.get("name", cloud) != cloud:
            raise ValidationFailed(f"name cannot be changed (path names {cloud!r})")
        doc["name"] = cloud
        secrets.seal(doc, stored, secrets.cloud_paths, self._box.encrypt, self._box.reseal)
        validation.cloud_credentials(doc, stored)
        resp.media = masked(await self._call(rpc.REPLACE_CLOUD, cloud, doc))

    async def on_delete(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        await self._call(rpc.DELETE_CLOUD, cloud)
        resp.status = falcon.HTTP_204


class CloudPing(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        resp.media = await self._call(rpc.PING_CLOUD, cloud)


class CloudWorkers(_Clouds):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, cloud: str
    ) -> None:
        stored = await self._call(rpc.GET_CLOUD, cloud)
        namespace = req.get_param("namespace") or None
        k8s = stored.get("kubernetes") or {}
        if stored["type"] == "Kubernetes" and not namespace and not k8s.get("inCluster"):
            namespace = k8s.get("namespace")
            if not namespace:
                raise ApiError(400, "query parameter namespace is required for this cloud")
        workers = await self._call(rpc.LIST_WORKERS, cloud)
        items = [w for w in workers if namespace is None or w.get("namespace") in (None, namespace)]
        resp.media = views.page(len(items), items)
