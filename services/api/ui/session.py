"""The web UI's sign-in: a session cookie in place of the API token, and its CSRF defence.

- The browser gives the API token once, in the body of `POST /ui/login`; the gateway answers
  with a random session id in a cookie (HttpOnly, SameSite=Strict, Secure behind HTTPS) and
  keeps only its SHA-256 in the `ui_sessions` collection (services/api/store.py), shared by
  every gateway process. Logging out deletes it there, so it ends everywhere at once.
- A session lives SESSION_TTL from sign-in (no sliding renewal: a stolen cookie is good for at
  most that long) and only while the API token is the one it was opened with.
- The cookie authenticates API requests from the pages (services/api/middleware.py). A request
  that changes something (any method but GET/HEAD/OPTIONS) must also carry `X-CSRF-Token`, an
  HMAC of the session id under a key derived from the stack's secret key (so any process can
  check it, and nothing more is stored), and must not come from another origin
  (`Origin`, `Sec-Fetch-Site`). The WebSocket never takes the cookie: pages ask for a
  single-use ticket (POST /api/v1/tickets, a CSRF-checked call) and open the stream with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import falcon.asgi

from services.api.errors import ApiError
from shared import timefmt

COOKIE = "cyclone_session"
SESSION_TTL = 12 * 3600  # seconds: a working day, then sign in again
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionStore(Protocol):
    async def open(self, digest: str, expires: datetime, token_mark: str) -> None: ...
    async def find(self, digest: str) -> Mapping[str, object] | None: ...
    async def close(self, digest: str) -> None: ...


class HasSessions(Protocol):
    """The gateway's store (services/api/store.py), opened after the app is built: its
    `ui_sessions` is looked up at each use."""

    @property
    def ui_sessions(self) -> SessionStore: ...


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _derive(secret_key: str, purpose: bytes) -> bytes:
    """A key for one purpose from the stack's secret key (never the key itself)."""
    return hmac.new(secret_key.encode(), b"cyclone-ui:" + purpose, hashlib.sha256).digest()


def same_origin(req: falcon.asgi.Request, public_url: str = "") -> bool:
    """False when the browser says the request comes from another site or origin.

    `Sec-Fetch-Site` (every current browser sends it) must be `same-origin` (or `none`: typed
    or bookmarked); a present `Origin` must be this gateway, as the request addressed it (Host)
    or as CYCLONE_PUBLIC_URL names it. Clients that send neither (curl) are not browsers, and
    the CSRF token still has to match for them.
    """
    site = (req.get_header("Sec-Fetch-Site") or "").lower()
    if site and site not in ("same-origin", "none"):
        return False
    origin = req.get_header("Origin")
    if not origin:
        return True
    if origin == "null":
        return False
    host = req.get_header("Host") or ""
    allowed = {f"{req.scheme}://{host}".lower()}
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origin.rstrip("/").lower() in allowed


class Sessions:
    """Opens, checks and ends UI sessions; reads the cookie and checks CSRF on API calls."""

    def __init__(
        self, store: HasSessions, api_token: str, secret_key: str, public_url: str = ""
    ) -> None:
        self._catalog = store
        self._token = api_token.encode()
        self._csrf_key = _derive(secret_key, b"csrf")
        self._mark = hmac.new(
            _derive(secret_key, b"token-mark"), self._token, hashlib.sha256
        ).hexdigest()
        self.public_url = public_url

    # --- signing in and out -----------------------------------------------------------------

    def token_ok(self, presented: str) -> bool:
        """The API token, compared in constant time."""
        return hmac.compare_digest(presented.strip().encode(), self._token)

    async def open(self) -> str:
        session_id = secrets.token_urlsafe(32)
        expires = timefmt.now() + timedelta(seconds=SESSION_TTL)
        await self._catalog.ui_sessions.open(_digest(session_id), expires, self._mark)
        return session_id

    async def close(self, session_id: str) -> None:
        await self._catalog.ui_sessions.close(_digest(session_id))

    async def valid(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        found = await self._catalog.ui_sessions.find(_digest(session_id))
        return found is not None and hmac.compare_digest(
            str(found.get("tokenMark", "")), self._mark
        )

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(session_id), str(presented))

    # --- cookies ----------------------------------------------------------------------------

    @staticmethod
    def session_id(req: falcon.asgi.Request) -> str | None:
        values = req.get_cookie_values(COOKIE) or []
        return values[0] if values else None

    def secure(self, req: falcon.asgi.Request) -> bool:
        """Secure cookies over HTTPS: the request's scheme (uvicorn honours X-Forwarded-Proto
        from a proxy on loopback) or an https CYCLONE_PUBLIC_URL."""
        return req.scheme == "https" or self.public_url.startswith("https://")

    def set_cookie(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, session_id: str
    ) -> None:
        resp.set_cookie(
            COOKIE,
            session_id,
            max_age=SESSION_TTL,
            path="/",
            secure=self.secure(req),
            http_only=True,
            same_site="Strict",
        )

    @staticmethod
    def clear_cookie(resp: falcon.asgi.Response) -> None:
        resp.unset_cookie(COOKIE, path="/", same_site="Strict")

    # --- API requests made with the cookie --------------------------------------------------

    async def authorize(self, req: falcon.asgi.Request, session_id: str) -> None:
        """Raise 401 for a dead session, 403 for a state change without the CSRF proofs."""
        if not await self.valid(session_id):
            raise ApiError(401, "your session has ended: sign in again at /ui/login")
        if req.method in SAFE_METHODS:
            return
        if not same_origin(req, self.public_url):
            raise ApiError(403, "cross-site request refused", "Forbidden")
        if not self.csrf_ok(session_id, req.get_header(CSRF_HEADER)):
            raise ApiError(
                403, f"missing or wrong {CSRF_HEADER} for a request made with the session cookie"
            )
