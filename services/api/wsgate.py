"""Refuse a WebSocket over plain HTTP (401, 404, ...) instead of a bare 403.

Falcon closes a WebSocket it refuses before `accept` with code 3000 + status; an ASGI server
turns a close before accept into HTTP 403. When the server offers the ASGI
`websocket.http.response` extension (uvicorn does), this wrapper answers the handshake with
the real status and our JSON error body (stashed on the scope by services/api/errors.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from services.api.errors import REASON_OF_STATUS, WS_REFUSAL

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# The app wrapped: any ASGI app (Falcon's is typed to take a dict scope and plain mappings).
App = Callable[[Any, Any, Any], Awaitable[None]]


class WebSocketRefusals:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.get("extensions") or {}
        if scope["type"] != "websocket" or "websocket.http.response" not in extensions:
            await self.app(scope, receive, send)
            return
        accepted = False

        async def guarded(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted:
                await _answer_http(scope, message, send)
                return
            await send(message)

        await self.app(scope, receive, guarded)


async def _answer_http(scope: Scope, message: Message, send: Send) -> None:
    refusal = scope.get(WS_REFUSAL)
    if refusal:
        status, body = refusal["status"], refusal["body"]
    else:
        code = int(message.get("code") or 1000)
        status = code - 3000 if 3400 <= code < 3600 else 403
        reason = REASON_OF_STATUS.get(status, "Forbidden")
        body = {"message": f"websocket refused ({status})", "reason": reason}
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": raw})
