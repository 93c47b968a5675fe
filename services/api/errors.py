"""Every error the gateway answers has one shape: {"message", "reason"[, "details"]}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import falcon
import falcon.asgi
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from services.api.clients import BusUnavailable
from services.api.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from shared.contracts import errors as wire

log = logging.getLogger(__name__)

STATUS_OF: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    NotFound: 404,
    Conflict: 409,
}
REASON_OF_STATUS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    411: "LengthRequired",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    426: "UpgradeRequired",
    500: "Internal",
    502: "BadGateway",
    503: "ServiceUnavailable",
}


class ApiError(falcon.HTTPError):
    """An HTTP error with our reason code and optional details."""

    def __init__(
        self, status: int, message: str, reason: str | None = None, details: Any = None
    ) -> None:
        super().__init__(status, title=reason or REASON_OF_STATUS.get(status), description=message)
        self.details = details


WS_REFUSAL = "cyclone.ws_refusal"


def refuse(req: falcon.asgi.Request, ex: falcon.HTTPError) -> falcon.HTTPError:
    """Remember the error body on the ASGI scope: a WebSocket refused before its upgrade is
    answered over HTTP by services/api/wsgate.py, which has only the scope to go on."""
    req.scope[WS_REFUSAL] = {"status": int(ex.status_code), "body": body_of(ex)}
    return ex


def body_of(ex: falcon.HTTPError) -> dict[str, object]:
    status = int(ex.status_code)
    title = ex.title or ""
    reason = title if title and not title[:3].isdigit() else REASON_OF_STATUS.get(status, "Error")
    message = ex.description or HTTPStatus(status).phrase
    body: dict[str, object] = {"message": message, "reason": reason}
    details = getattr(ex, "details", None)
    if details is not None:
        body["details"] = details
    return body


def serialize(req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: falcon.HTTPError) -> None:
    resp.media = body_of(ex)
    resp.content_type = falcon.MEDIA_JSON


async def handle_domain(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    error: DomainError,
    params: dict[str, object],
    ws: object = None,
) -> None:
    raise refuse(
        req, ApiError(STATUS_OF.get(type(error), 400), error.message, error.reason, error.details)
    )


WIRE_STATUS: dict[type[Exception], tuple[int, str]] = {
    wire.NotFound: (404, "NotFound"),
    wire.Conflict: (409, "Conflict"),
    wire.InvalidRequest: (400, "ValidationFailed"),
    wire.Unauthorized: (401, "Unauthorized"),
    wire.CredentialsRejected: (400, "CredentialsRejected"),
    wire.PermissionDenied: (403, "PermissionDenied"),
    wire.Unreachable: (502, "BadGateway"),
}


async def handle_wire(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    error: Exception,
    params: dict[str, object],
    ws: object = None,
) -> None:
    status, reason = WIRE_STATUS[type(error)]
    raise refuse(req, ApiError(status, str(error), reason))


async def handle_bus_failure(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    error: Exception,
    params: dict[str, object],
    ws: object = None,
) -> None:
    """A service that is down or failing: 503, and the request can be retried."""
    log.warning("service call failed on %s %s: %r", req.method, req.path, error)
    what = "did not answer in time" if isinstance(error, RpcTimeout) else "is unavailable"
    if isinstance(error, RemoteError):
        what = f"failed: {error.exc_type}"
    raise refuse(req, ApiError(503, f"a backing service {what}; retry later", "ServiceUnavailable"))


class Unavailable:
    """A handler answering 503 for an outage of `what` (the broker, the database): the request
    changed nothing it could not redo, and the client may retry."""

    def __init__(self, what: str) -> None:
        self.what = what

    async def __call__(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response | None,
        error: Exception,
        params: dict[str, object],
        ws: object = None,
    ) -> None:
        log.warning("%s unavailable on %s %s: %r", self.what, req.method, req.path, error)
        message = f"{self.what} is unavailable; retry later"
        raise refuse(req, ApiError(503, message, "ServiceUnavailable"))


async def handle_route_not_found(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    error: Exception,
    params: dict[str, object],
    ws: object = None,
) -> None:
    raise ApiError(404, f"no such endpoint: {req.method} {req.path}")


async def handle_unexpected(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    error: Exception,
    params: dict[str, object],
    ws: object = None,
) -> None:
    if isinstance(error, falcon.HTTPError):
        raise refuse(req, error)
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise ApiError(500, f"internal error: {type(error).__name__}", "Internal")


def install(app: falcon.asgi.App, database_down: tuple[type[Exception], ...] = ()) -> None:
    """`database_down`: what the database driver raises when the server is out of reach
    (services/api/store.py owns the driver)."""
    app.set_error_serializer(serialize)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(DomainError, handle_domain)
    app.add_error_handler(falcon.HTTPRouteNotFound, handle_route_not_found)
    app.add_error_handler(tuple(WIRE_STATUS), handle_wire)
    app.add_error_handler((RpcTimeout, UnknownService, RemoteError), handle_bus_failure)
    app.add_error_handler(BusUnavailable, Unavailable("the message broker"))
    if database_down:
        app.add_error_handler(database_down, Unavailable("the database"))
