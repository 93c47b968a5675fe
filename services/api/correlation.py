"""Request ids and the access log: one line per request, in the stack's log format.

The id comes from the client's `X-Request-ID` when it is a sane token (so a caller's own
tracing ties in), else a new one; it is returned in the response, bound for every log line
the request causes here (shared/logsetup.py) and sent along with each RPC call and event
(services/api/clients.py), so the services' lines carry it too. The access line's query has its
credentials masked (services/api/redact.py): a `?token=` never reaches a log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import falcon.asgi

from services.api.redact import redact
from shared import logsetup, tracing

HEADER = "X-Request-ID"
QUIET_PATHS = frozenset({"/healthz", "/metrics"})  # probes and scrapes: DEBUG, not INFO
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("cyclone.access")


def request_id(presented: str | None) -> str:
    if presented and _SANE.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


class RequestIds:
    def __init__(self, access: bool = True) -> None:
        self.access = access

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        rid = request_id(req.get_header(HEADER))
        logsetup.REQUEST_ID.set(rid)
        req.context.request_id = rid
        resp.set_header(HEADER, rid)
        if tracing.enabled() and req.path not in QUIET_PATHS:
            # a caller's `traceparent` makes this request part of the caller's trace
            parent = tracing.extract({k: req.get_header(k) or "" for k in tracing.KEYS})
            span = tracing.start(f"{req.method} {req.path}", tracing.SERVER, parent)
            span.set_attribute("http.request.method", req.method)
            span.set_attribute("cyclone.request_id", rid)
            req.context.span = (span, tracing.attach(span))

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        rid = request_id(req.get_header(HEADER))
        logsetup.REQUEST_ID.set(rid)
        req.context.request_id = rid
        if self.access:
            access_log.info("WS %s", _target(req))

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        traced = getattr(req.context, "span", None)
        if traced is not None:
            span, token = traced
            span.update_name(f"{req.method} {req.uri_template or req.path}")
            span.set_attribute("http.response.status_code", resp.status_code)
            span.end()
            tracing.detach(token)
        # Timed by middleware.Metrics, which comes after this one (so its start is later and
        # its end earlier: the line's time is the handler's, as the metric's is).
        began = getattr(req.context, "started", None)
        if self.access and began is not None:
            took = (time.perf_counter() - began) * 1000
            level = logging.DEBUG if req.path in QUIET_PATHS else logging.INFO
            access_log.log(
                level, "%s %s %s %.1fms", req.method, _target(req), resp.status_code, took
            )


def _target(req: falcon.asgi.Request) -> str:
    return req.path + (f"?{redact(req.query_string)}" if req.query_string else "")
