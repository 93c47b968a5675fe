"""Every error the gateway answers has one shape: {"message", "reason"[, "details"]}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import falcon
import falcon.asgi

from services.api.domain.errors import Conflict, DomainError, NotFound, ValidationFailed

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
    500: "Internal",
    503: "ServiceUnavailable",
}


class ApiError(falcon.HTTPError):
    """An HTTP error with our reason code and optional details."""

    def __init__(
        self, status: int, message: str, reason: str | None = None, details: Any = None
    ) -> None:
        super().__init__(status, title=reason or REASON_OF_STATUS.get(status), description=message)
        self.details = details


def body_of(ex: falcon.HTTPError) -> dict[str, Any]:
    status = int(ex.status_code)
    title = ex.title or ""
    reason = title if title and not title[:3].isdigit() else REASON_OF_STATUS.get(status, "Error")
    message = ex.description or HTTPStatus(status).phrase
    body: dict[str, Any] = {"message": message, "reason": reason}
    details = getattr(ex, "details", None)
    if details is not None:
        body["details"] = details
    return body


def serialize(req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: falcon.HTTPError) -> None:
    resp.media = body_of(ex)
    resp.content_type = falcon.MEDIA_JSON


async def handle_domain(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: DomainError, params: dict
) -> None:
    raise ApiError(STATUS_OF.get(type(ex), 400), ex.message, ex.reason, ex.details)


async def handle_route_not_found(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: dict
) -> None:
    raise ApiError(404, f"no such endpoint: {req.method} {req.path}")


async def handle_unexpected(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, ex: Exception, params: dict
) -> None:
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise ApiError(500, f"internal error: {type(ex).__name__}", "Internal")


def install(app: falcon.asgi.App) -> None:
    app.set_error_serializer(serialize)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(DomainError, handle_domain)
    app.add_error_handler(falcon.HTTPRouteNotFound, handle_route_not_found)
