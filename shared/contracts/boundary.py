"""Checks at the boundary: a payload that crosses a process is validated against its contract.

The contracts are TypedDicts (shared/contracts/*), checked with pydantic v2's TypeAdapter
(docs/dependencies.md says why pydantic and what a check costs). A payload that does not fit
raises `MalformedPayload` naming the field and what was wrong, where it arrives, instead of a
KeyError deep inside a handler. Fields a contract does not name are kept (a newer producer
may add some during a rolling upgrade). The check is strict (a string is not a number, a
number not a bool), so the payload itself is returned as the typed value: nothing is copied.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from nameko.exceptions import deserialize_to_instance
from pydantic import TypeAdapter, ValidationError

from shared.contracts.errors import InvalidRequest

T = TypeVar("T")


@deserialize_to_instance
class MalformedPayload(InvalidRequest):
    """A payload broke its contract: an RPC caller gets it back as this same type (an
    InvalidRequest: HTTP 400 at the gateway)."""


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(model: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def prepare(*models: type) -> None:
    """Build the checkers of `models` now: the first check of a model builds its schema
    (about 70 ms for a Job), which a process that forks workers does once, before forking."""
    for model in models:
        _adapter(model)


def check(model: type[T], payload: object, what: str) -> T:
    """`payload` as a `model`, or MalformedPayload saying which field broke it and how."""
    try:
        _adapter(model).validate_python(payload, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(the payload)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise MalformedPayload(f"malformed {what}: {where}: {first['msg']}{more}") from None
    return cast(T, payload)
