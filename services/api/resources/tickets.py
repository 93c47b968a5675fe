"""POST /api/v1/tickets: a single-use ticket for the log WebSocket (`?ticket=`).

A browser opening a log stream cannot set `Authorization` on a WebSocket; rather than putting
the long-lived API token in the URL, it asks for a ticket with the token (a normal request) and
opens the stream with that ticket, which is good once and for TICKET_TTL seconds.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import falcon
import falcon.asgi

from services.api.store import CatalogStore
from shared import timefmt

TICKET_TTL = 60  # seconds


def digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketsResource:
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        ticket = secrets.token_urlsafe(32)
        expires = timefmt.now() + timedelta(seconds=TICKET_TTL)
        await self._store.tickets.issue(digest(ticket), expires)
        resp.status = falcon.HTTP_201
        resp.set_header("Cache-Control", "no-store")
        resp.media = {
            "ticket": ticket,
            "expiresAt": timefmt.rfc3339(expires),
            "expiresIn": TICKET_TTL,
        }
