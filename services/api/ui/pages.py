"""The web UI's routes: `/` and the pages under `/ui/`, sign-in and out, and the UI's files.

The pages read nothing themselves: each is a shell (services/api/ui/shell.py) whose module
calls the public API with the session cookie. Without a live session every page sends the
browser to the login page, keeping where it was going in `next`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

import falcon
import falcon.asgi

from services.api.http import read_raw
from services.api.ui import shell
from services.api.ui.assets import Assets
from services.api.ui.session import Sessions, same_origin

FORM_MAX = 16 * 1024
HOME = "/ui/"


def safe_target(target: str | None) -> str:
    """Where to go after signing in: a path of the UI only (never another site)."""
    if not target or not target.startswith("/ui") or "\\" in target or target.startswith("//"):
        return HOME
    if any(ord(c) < 32 for c in target):
        return HOME
    return target


def _html(resp: falcon.asgi.Response, body: str, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = "text/html; charset=utf-8"
    resp.set_headers(shell.HEADERS)
    resp.text = body


def _see_other(resp: falcon.asgi.Response, location: str) -> None:
    resp.status = falcon.HTTP_303
    resp.location = location
    resp.set_header("Cache-Control", "no-store")


async def _form(req: falcon.asgi.Request) -> dict[str, str]:
    raw = await read_raw(req, FORM_MAX)
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


class Root:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.status = falcon.HTTP_302
        resp.location = HOME


class Page:
    """One kind of page (projects, project, pipeline, record, clouds)."""

    def __init__(self, kind: str, sessions: Sessions, assets: Assets) -> None:
        self._kind = kind
        self._sessions = sessions
        self._assets = assets

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, **params: str
    ) -> None:
        session_id = self._sessions.session_id(req)
        if not session_id or not await self._sessions.valid(session_id):
            path = HOME if req.path == "/ui" else req.path
            target = path + (f"?{req.query_string}" if req.query_string else "")
            _see_other(resp, f"/ui/login?next={quote(target, safe='')}")
            return
        view = shell.view_of(self._kind, params)
        _html(resp, shell.page(self._assets, view, self._sessions.csrf_token(session_id)))


class Login:
    def __init__(self, sessions: Sessions, assets: Assets) -> None:
        self._sessions = sessions
        self._assets = assets

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        target = safe_target(req.get_param("next"))
        if await self._sessions.valid(self._sessions.session_id(req)):
            _see_other(resp, target)
            return
        _html(resp, shell.login(self._assets, target))

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # A sign-in posted from another site would log the browser into the wrong session.
        if not same_origin(req, self._sessions.public_url):
            refused = shell.login(self._assets, HOME, "Cross-site sign-in refused.")
            _html(resp, refused, falcon.HTTP_403)
            return
        form = await _form(req)
        target = safe_target(form.get("next"))
        if not self._sessions.token_ok(form.get("token", "")):
            body = shell.login(self._assets, target, "That token is not valid: check it and retry.")
            _html(resp, body, falcon.HTTP_401)
            return
        session_id = await self._sessions.open()
        self._sessions.set_cookie(req, resp, session_id)
        _see_other(resp, target)


class Logout:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        session_id = self._sessions.session_id(req)
        form = await _form(req)
        if session_id:
            if not same_origin(req, self._sessions.public_url) or not self._sessions.csrf_ok(
                session_id, form.get("csrf")
            ):
                refused = "<!doctype html><title>Refused</title><p>Logout refused.</p>"
                _html(resp, refused, falcon.HTTP_403)
                return
            await self._sessions.close(session_id)
        self._sessions.clear_cookie(resp)
        _see_other(resp, "/ui/login")


class Static:
    def __init__(self, assets: Assets) -> None:
        self._assets = assets

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, version: str, name: str
    ) -> None:
        asset = self._assets.files.get(name)
        if asset is None:
            raise falcon.HTTPNotFound(description=f"no UI file {name}")
        resp.content_type = asset.content_type
        resp.etag = asset.etag
        resp.set_header("X-Content-Type-Options", "nosniff")
        if version == self._assets.version:
            resp.cache_control = ["public", "max-age=31536000", "immutable"]
        else:  # an old page asks for a file of another release: this one, not kept
            resp.cache_control = ["no-cache"]
        if req.get_header("If-None-Match") == asset.etag:
            resp.status = falcon.HTTP_304
            return
        resp.data = asset.body
