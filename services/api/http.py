"""Reading requests: bounded JSON bodies and checked query parameters."""

from __future__ import annotations

import json
import re
from typing import Any

import falcon.asgi
import yaml

from services.api.domain import queries
from services.api.errors import ApiError

MAX_BODY = 1024 * 1024  # 1 MiB for the API
MAX_LIMIT = queries.MAX_LIMIT
MAX_RECENT = queries.MAX_RECENT
_INTEGER = re.compile(queries.INTEGER_PATTERN.removeprefix("^").removesuffix("$"))
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})


class _PlainYaml(yaml.SafeLoader):
    """YAML as JSON means it: no aliases (a few lines of them expand to billions of nodes for
    whoever walks the result), no timestamps (a date stays the string it looks like)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not accepted")
        return super().compose_node(parent, index)


def _from_yaml(raw: bytes) -> Any:
    try:
        value = yaml.load(raw, Loader=_PlainYaml)  # a SafeLoader subclass
        return json.loads(json.dumps(value))  # only what JSON can say (no bytes, no sets)
    except (yaml.YAMLError, TypeError, ValueError) as exc:
        raise ApiError(400, f"malformed YAML body: {exc}", "BadRequest") from exc


async def read_json(req: falcon.asgi.Request, max_bytes: int = MAX_BODY) -> Any:
    """The decoded JSON body (or YAML, with a YAML Content-Type: the web UI's pasted
    definitions); 413 past `max_bytes`, 400 when it does not parse."""
    raw = await read_raw(req, max_bytes)
    if not raw.strip():
        raise ApiError(400, "request body is empty; a JSON object is expected", "BadRequest")
    if (req.content_type or "").split(";")[0].strip().lower() in YAML_TYPES:
        return _from_yaml(raw)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}", "BadRequest") from exc


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"request body is larger than {max_bytes} bytes", "PayloadTooLarge")


def refuse_declared_excess(req: falcon.asgi.Request, max_bytes: int) -> None:
    """413 when the declared Content-Length is past `max_bytes`, before any byte is read."""
    length = req.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)


async def read_raw(req: falcon.asgi.Request, max_bytes: int = MAX_BODY) -> bytes:
    """The body as bytes (webhooks: signatures cover the exact bytes).

    413 past `max_bytes`: by Content-Length before reading anything, and for a body without
    one (chunked) as soon as the bytes received pass the limit, so at most `max_bytes` plus
    one chunk is ever held. The rest of a refused body is never read by the app.
    """
    refuse_declared_excess(req, max_bytes)
    if req.content_length == 0:
        return b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in req.stream:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def query_int(
    req: falcon.asgi.Request, name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer query parameter: ASCII digits (a leading minus allowed, to say what the
    minimum is), `default` when absent or empty; 400 otherwise or out of bounds."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise ApiError(400, f"query parameter {name} must be an integer, got {raw!r}", "BadRequest")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ApiError(
            400,
            f"query parameter {name} must be at least {minimum}{upper}, got {value}",
            "BadRequest",
        )
    return value


def paging(req: falcon.asgi.Request) -> tuple[int, int]:
    """`start` (skip) and `limit`; a missing or zero limit means up to MAX_LIMIT items."""
    start = query_int(req, queries.START["name"], 0)
    limit = query_int(req, queries.LIMIT["name"], 0, maximum=MAX_LIMIT) or MAX_LIMIT
    return start, limit


def query_flag(req: falcon.asgi.Request, name: str) -> bool:
    """A boolean query parameter (`true`/`false`/`1`/`0`, any case; absent or empty: false)."""
    raw = (req.get_param(name) or "false").lower()
    if raw not in queries.TRUE_VALUES + queries.FALSE_VALUES:
        raise ApiError(400, f"query parameter {name} must be true or false", "BadRequest")
    return raw in queries.TRUE_VALUES
