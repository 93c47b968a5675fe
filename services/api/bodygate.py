"""Refuse an oversized hook body before the app reads a byte of it.

Falcon awaits the request's first body event before it routes (so does any responder that
reads), and uvicorn answers `Expect: 100-continue` when the app first asks for the body. The
hook endpoints are open to anyone, so a request to them that announces more than
`HOOK_BODY` in Content-Length is answered 413 here, from the headers alone: nothing of the
body is read, and a client that asked before sending (curl does past 1 MiB) never sends it.
Bodies without Content-Length (chunked) are counted as they arrive (services/api/http.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]

HOOK_BODY = 5 * 1024 * 1024  # every SCM hook body (GitHub's own cap, 25 MB, is more than needed)
_HOOK_SUFFIXES = ("/githubwebhook", "/gitlabwebhook")


def is_hook(path: str) -> bool:
    """The SVN post-commit hook and the GitHub/GitLab webhooks."""
    return path.startswith("/api/v1/subversion/") or (
        path.startswith("/api/v1/pipelines/") and path.rstrip("/").endswith(_HOOK_SUFFIXES)
    )


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server or the app refuses it
    return None


class HookBodyGate:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        length = declared_length(scope) if scope["type"] == "http" else None
        if length is None or length <= HOOK_BODY or not is_hook(scope.get("path") or ""):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "message": f"request body is larger than {HOOK_BODY} bytes",
                "reason": "PayloadTooLarge",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
