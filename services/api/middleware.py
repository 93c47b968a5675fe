"""Cross-cutting concerns of every request: metrics, bearer-token auth, the calling user."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import falcon
import falcon.asgi

from services.api import metrics
from services.api.errors import ApiError

if TYPE_CHECKING:
    from services.api.ui.session import Sessions


def refuse_ws(message: str) -> ApiError:
    return ApiError(401, message, "Unauthorized")


# Open without a token: probes, scraping, and SCM webhooks (which verify their own signatures).
OPEN_PATHS = frozenset({"/healthz", "/metrics"})
OPEN_PREFIXES = ("/api/v1/subversion/",)
OPEN_SUFFIXES = ("/githubwebhook", "/gitlabwebhook")


def is_ui(path: str) -> bool:
    """The web UI's pages and files check the session themselves (services/api/ui/pages.py)."""
    return path in ("/", "/ui") or path.startswith("/ui/")


def is_open(path: str) -> bool:
    return (
        is_ui(path)
        or path in OPEN_PATHS
        or path.startswith(OPEN_PREFIXES)
        or (path.startswith("/api/v1/pipelines/") and path.endswith(OPEN_SUFFIXES))
    )


class Metrics:
    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.started = time.perf_counter()

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        started = getattr(req.context, "started", None)
        if started is None:
            return
        route = req.uri_template or "unmatched"
        metrics.observe(req.method, route, resp.status_code, time.perf_counter() - started)


class Auth:
    """Bearer token from `Authorization`, compared in constant time; on a WebSocket also
    `?token=` or a single-use `?ticket=` (resources/tickets.py), redeemed through `redeem`.
    Without `Authorization`, the web UI's session cookie (services/api/ui/session.py), with its
    CSRF checks on state changes; never on a WebSocket."""

    def __init__(
        self,
        token: str,
        redeem: Callable[[str], Awaitable[bool]] | None = None,
        sessions: Sessions | None = None,
    ) -> None:
        self._token = token.encode()
        self._redeem = redeem
        self._sessions = sessions

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.user = req.get_header("X-User") or ""
        if is_open(req.path):
            return
        header = req.get_header("Authorization") or ""
        if not header and self._sessions is not None:
            session_id = self._sessions.session_id(req)
            if session_id:
                await self._sessions.authorize(req, session_id)
                return
        self._check(header)

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        """Browsers cannot set headers on a WebSocket: `?token=` is accepted there too."""
        req.context.user = req.get_header("X-User") or ""
        ticket = req.get_param("ticket")
        if ticket is not None:
            if self._redeem is None or not await self._redeem(ticket):
                raise refuse_ws("invalid or used ticket: ask POST /api/v1/tickets for a new one")
            return
        token = req.get_param("token")
        self._check(f"Bearer {token}" if token else req.get_header("Authorization") or "")

    def _check(self, header: str) -> None:
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise refuse_ws(
                "missing bearer token: send 'Authorization: Bearer <token>' (or ?token= on a "
                "WebSocket)"
            )
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            raise refuse_ws("invalid bearer token")
