"""Query parameters and the rules the resources check them by.

One source for two readers, like schemas.py for bodies: the resources read their bounds and
choices here (services/api/http.py, resources/*.py), and the OpenAPI document
(services/api/openapi.py) states them as parameter schemas, so a value the document calls
valid is never refused for its form.
"""

from __future__ import annotations

import re
from typing import NotRequired, TypedDict

from services.api.domain import schemas
from shared.contracts import stages

MAX_LIMIT = 1000  # `limit` of a page; 0 or absent: up to MAX_LIMIT items
MAX_RECENT = 100  # recentCount, recentSuccessCount, recentFailedCount
MAX_STATS_DAYS = 366
# Booleans in a query (`download`): any letter case; empty is false.
TRUE_VALUES = ("true", "1")
FALSE_VALUES = ("false", "0")
# An integer in a query: ASCII digits, a minus sign at most (int() would also take "+1",
# " 1", "1_000" and other scripts' digits, none of which the document calls an integer).
INTEGER_PATTERN = r"^-?[0-9]+$"


# An OpenAPI parameter object (`in` is a keyword, hence the functional form).
QueryParam = TypedDict(
    "QueryParam",
    {
        "name": str,
        "in": str,
        "required": bool,
        "schema": schemas.JsonSchema,
        "description": NotRequired[str],
    },
)


def _param(
    name: str, schema: schemas.JsonSchema, description: str = "", required: bool = False
) -> QueryParam:
    param: QueryParam = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def integer(minimum: int = 0, maximum: int | None = None) -> schemas.JsonSchema:
    schema: schemas.JsonSchema = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def any_case(words: tuple[str, ...], empty: bool = False) -> str:
    """A pattern of `words` in any letter case (`true`, `TRUE`, `True`...), or also ""."""
    alternatives = [
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word) for word in words
    ]
    return f"^(?:{'|'.join(alternatives)}){'?' if empty else ''}$"


START = _param("start", integer(), "items to skip (newest first)")
LIMIT = _param("limit", integer(0, MAX_LIMIT), f"page size; 0 or absent: up to {MAX_LIMIT}")
PAGING = (START, LIMIT)
RECENT_NAMES = ("recentCount", "recentSuccessCount", "recentFailedCount")
RECENT = tuple(
    _param(name, integer(0, MAX_RECENT), "how many recent records to add to each pipeline")
    for name in RECENT_NAMES
)
# `stage` of the log endpoints: a stage name, or empty for every stage.
STAGE = _param(
    "stage",
    {"type": "string", "enum": [*stages.STAGES, ""]},
    "one stage's log (400 for an unknown stage, 404 for one that did not run); empty: all",
)
TASK = _param("task", {"type": "string"}, "one task's log (an imageBuild buildInfo's taskName)")
DOWNLOAD = _param(
    "download",
    {"type": "string", "pattern": any_case(TRUE_VALUES + FALSE_VALUES, empty=True)},
    "true (or 1): answer as an attachment",
)
LOG = (STAGE, TASK, DOWNLOAD)
FROM = _param("from", integer(), "resume after this many lines already received")
BATCH = _param(
    "batch",
    {"type": "string", "pattern": any_case(TRUE_VALUES + FALSE_VALUES, empty=True)},
    "true (or 1): each text frame is a JSON array of one or more lines (as they were stored "
    "together) instead of one line; `from` still counts lines",
)
TICKET = _param("ticket", {"type": "string"}, "a single-use ticket (POST /api/v1/tickets)")
TOKEN = _param("token", {"type": "string"}, "the API token (for scripts)")
LOGSTREAM = (STAGE, TASK, FROM, BATCH, TICKET, TOKEN)
STATS = tuple(
    _param(
        name,
        integer(),
        f"unix seconds; endTime >= startTime, at most {MAX_STATS_DAYS} days apart",
        required=True,
    )
    for name in ("startTime", "endTime")
)
# `repo` of the SCM listings: required, not blank.
REPO = (
    _param(
        "repo",
        {"type": "string", "pattern": f"[^{schemas.SPACE}]"},
        "the repository (owner/name, GitLab group/sub/name)",
        required=True,
    ),
)
NAMESPACE = (
    _param("namespace", {"type": "string"}, "a Kubernetes cloud's namespace (default: its own)"),
)
REVISION = (_param("revision", integer(1), "the committed revision", required=True),)


# `Idempotency-Key` of a POST that starts a run: the same key again (a retry after a timeout
# or a 503) answers the record the first one made instead of starting another.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"  # visible ASCII, as HTTP header values carry safely
IDEMPOTENCY_KEY: QueryParam = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    "description": "1 to 200 visible ASCII characters chosen by the client: a POST with a key "
    "used before for this pipeline answers the record that one started (201, the same id), "
    "so a POST retried after a timeout or a 503 never starts a second run",
}


def idempotency_key(raw: str | None) -> str | None:
    """The header's key, None when absent; ValueError for a value the pattern refuses."""
    if raw is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, raw):
        raise ValueError("Idempotency-Key must be 1 to 200 visible ASCII characters")
    return raw
