"""/healthz, /metrics and /api/v1/openapi.json."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Generic, NotRequired, TypeVar

import falcon
import falcon.asgi
from typing_extensions import TypedDict

from services.api import metrics
from services.api.clients import Bus
from services.api.store import CatalogStore
from shared import metrics as shared_metrics
from shared.contracts import services

HEALTH_TIMEOUT = 2.0
HEALTH_MAX_AGE = 1.0  # seconds a verdict is served again

T = TypeVar("T")


class Recent(Generic[T]):
    """The result of an async check, served again while it is at most `max_age` seconds old
    (counted from when the check ended). Callers that come while a check runs share it
    instead of starting another, so however often it is asked, one process makes at most one
    check at a time and, while they pass quickly, about one a second. A caller that goes away
    (a client hanging up) does not cancel the check the others wait for."""

    def __init__(
        self,
        check: Callable[[], Awaitable[T]],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._max_age = max_age
        self._clock = clock
        self._last: tuple[float, T] | None = None
        self._running: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._last is not None and self._clock() - self._last[0] <= self._max_age:
            return self._last[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._running)

    async def _run(self) -> T:
        try:
            value = await self._check()
            self._last = (self._clock(), value)
            return value
        finally:
            self._running = None


class Verdict(TypedDict):
    status: str  # "ok" | "unavailable"
    checks: dict[str, str]  # "mongo" and each service: "ok" or why not
    failing: NotRequired[list[str]]


class Health:
    """200 only when MongoDB and every resident service answer within 2 s; else 503.

    The verdict is at most HEALTH_MAX_AGE (1 s) old: an open endpoint must not turn each
    request into a MongoDB ping and an RPC to every service (`Recent`)."""

    def __init__(self, store: CatalogStore, bus: Bus, max_age: float = HEALTH_MAX_AGE) -> None:
        self._store = store
        self._bus = bus
        self._verdict = Recent(self._check, max_age)

    async def _mongo(self) -> str:
        try:
            await asyncio.wait_for(self._store.ping(), HEALTH_TIMEOUT)
        except TimeoutError:
            return f"no answer within {HEALTH_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    async def _check(self) -> Verdict:
        metrics.HEALTH_CHECKS.inc()
        mongo, pings = await asyncio.gather(
            self._mongo(), self._bus.ping_all(services.RESIDENT, HEALTH_TIMEOUT)
        )
        checks = {"mongo": mongo, **pings}
        failing = sorted(k for k, v in checks.items() if v != "ok")
        body = Verdict(status="unavailable" if failing else "ok", checks=checks)
        if failing:
            body["failing"] = failing
        return body

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        body = await self._verdict.get()
        resp.status = falcon.HTTP_503 if body.get("failing") else falcon.HTTP_200
        resp.cache_control = ["no-store"]
        resp.media = body


class Metrics:
    """The stack's metrics: the gateway's, and on one host every service's too
    (shared/metrics.py). The gateway's own outbox is counted at each scrape."""

    def __init__(self, store: CatalogStore | None = None) -> None:
        self._store = store

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):  # a scrape answers even with MongoDB down
                shared_metrics.OUTBOX.labels("api").set(await self._store.outbox.pending())
        data, content_type = metrics.exposition()
        resp.data = data
        resp.content_type = content_type


class OpenApi:
    def __init__(self, document: dict[str, object]) -> None:
        self._document = document

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = self._document
