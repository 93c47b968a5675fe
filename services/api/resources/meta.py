"""/healthz, /metrics and /api/v1/openapi.json."""

from __future__ import annotations

import asyncio
from typing import Any

import falcon
import falcon.asgi

from services.api import metrics
from services.api.clients import Bus
from services.api.store import CatalogStore
from shared.contracts import services

HEALTH_TIMEOUT = 2.0


class Health:
    """200 only when MongoDB and every resident service answer within 2 s; else 503."""

    def __init__(self, store: CatalogStore, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def _mongo(self) -> str:
        try:
            await asyncio.wait_for(self._store.ping(), HEALTH_TIMEOUT)
        except TimeoutError:
            return f"no answer within {HEALTH_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        mongo, pings = await asyncio.gather(
            self._mongo(), self._bus.ping_all(services.RESIDENT, HEALTH_TIMEOUT)
        )
        checks = {"mongo": mongo, **pings}
        failing = sorted(k for k, v in checks.items() if v != "ok")
        resp.status = falcon.HTTP_503 if failing else falcon.HTTP_200
        body: dict[str, Any] = {"status": "unavailable" if failing else "ok", "checks": checks}
        if failing:
            body["failing"] = failing
        resp.media = body


class Metrics:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        data, content_type = metrics.exposition()
        resp.data = data
        resp.content_type = content_type


class OpenApi:
    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = self._document
