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

from uvicorn_worker import UvicornWorker

from services.api import redact

redact.install()  # `?token=` never reaches a log (access log, uvicorn's WebSocket lines)

PING = float(os.environ.get("CYCLONE_WS_PING_INTERVAL") or 20)
# A peer must answer a ping within this; a slow reader's pong waits behind its unread frames.
PING_TIMEOUT = float(os.environ.get("CYCLONE_WS_PING_TIMEOUT") or 20)


class GatewayWorker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "auto",
        "ws": "websockets",
        "ws_ping_interval": PING,
        "ws_ping_timeout": PING_TIMEOUT,
    }
