"""The create/replace flow shared by projects, pipelines and integrations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.api.domain import secrets
from services.api.domain.errors import ValidationFailed
from services.api.domain.names import name_from_alias
from services.api.store import Repository
from shared.crypto import SecretBox


@dataclass(frozen=True)
class Kind:
    """What differs between the catalog resources."""

    spec: Callable[[Any], dict[str, Any]]
    secret_paths: secrets.PathsFn
    check: Callable[[dict[str, Any], dict[str, Any] | None], None] = lambda doc, stored: None


Prepare = Callable[[dict[str, Any]], Awaitable[None]]


async def create(
    repo: Repository,
    scope: str | None,
    kind: Kind,
    body: Any,
    box: SecretBox,
    user: str,
    prepare: Prepare | None = None,
) -> dict[str, Any]:
    doc = kind.spec(body)
    generated = not doc.get("name")
    if generated:
        doc["name"] = name_from_alias(doc["alias"])
    if user:
        doc["owner"] = user
    secrets.seal(doc, None, kind.secret_paths, box.encrypt, box.reseal)
    kind.check(doc, None)
    if prepare:
        await prepare(doc)
    return await repo.insert(scope, doc, generated_name=generated)


async def replace(
    repo: Repository,
    stored: dict[str, Any],
    kind: Kind,
    body: Any,
    box: SecretBox,
    prepare: Prepare | None = None,
) -> dict[str, Any]:
    """PUT semantics: the body is the whole new resource; name and creation time stay."""
    doc = kind.spec(body)
    if doc.get("name", stored["name"]) != stored["name"]:
        raise ValidationFailed(
            f"name cannot be changed (path names {stored['name']!r}, body {doc['name']!r})"
        )
    doc["name"] = stored["name"]
    if not doc.get("owner") and stored.get("owner"):
        doc["owner"] = stored["owner"]
    secrets.seal(doc, stored, kind.secret_paths, box.encrypt, box.reseal)
    kind.check(doc, stored)
    if prepare:
        await prepare(doc)
    return await repo.replace(stored, doc)
