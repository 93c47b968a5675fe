"""The gateway's gunicorn worker: uvicorn (httptools, uvloop, websockets).

Chosen over gunicorn's own ASGI worker because uvicorn offers the ASGI
`websocket.http.response` extension, which lets a refused WebSocket get its real HTTP status
(401, 404) before the upgrade (services/api/wsgate.py). Idle WebSockets are pinged every
`CYCLONE_WS_PING_INTERVAL` seconds (default 20); a peer that does not answer within
`CYCLONE_WS_PING_TIMEOUT` (default 20) is dropped.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from gunicorn.glogging import Logger
from uvicorn_worker import UvicornWorker

from services.api import redact
from shared import logsetup
from shared.envvars import Env

# The gateway runs on asyncio and never monkey-patches: eventlet (which nameko's standalone
# RPC proxy imports) need not load its green DNS resolver, 7 MB of every gateway process.
# Set before the app is imported (gunicorn's workers import it after this module).
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
redact.install()  # `?token=` never reaches a log (access log, uvicorn's WebSocket lines)

PING = Env().number("CYCLONE_WS_PING_INTERVAL", 20.0)
# A peer must answer a ping within this; a slow reader's pong waits behind its unread frames.
PING_TIMEOUT = Env().number("CYCLONE_WS_PING_TIMEOUT", 20.0)


class GatewayWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        # uvicorn 0.54 deprecates "websockets" (legacy asyncio) for its sans-I/O version, which
        # keeps the two things we need: `websocket.http.response` and pings.
        "ws": "websockets-sansio",
        "ws_ping_interval": PING,
        "ws_ping_timeout": PING_TIMEOUT,
    }


class GatewayLogger(Logger):
    """gunicorn's own lines (master and workers) in the stack's format; its access log is off
    (the gateway writes its own access line, with the request id)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        out = logsetup.configure("api")
        self.error_log.handlers = [out]
        self.error_log.propagate = False
        self.access_log.handlers = []
        self.access_log.propagate = False
