"""The create/replace flow shared by projects, pipelines and integrations: validate, seal the
secrets, check, prepare (credential checks, webhooks), store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from typing_extensions import TypedDict

from services.api.domain import secrets
from services.api.domain.errors import ValidationFailed
from services.api.domain.names import name_from_alias
from services.api.store import Repository
from shared.crypto import SecretBox


class Named(TypedDict, total=False):
    """What every catalog document has: a name, or an alias to make one from."""

    name: str
    alias: str


class Owned(Named, total=False):
    owner: str  # who created it (projects and pipelines)


D = TypeVar("D", bound=Named)
Prepare = Callable[[D], Awaitable[None]]


def _no_check(doc: object, stored: object) -> None:
    return None


def _owned(doc: Named) -> Owned:
    """The document of a kind with `owned` (Project, Pipeline: both have `owner`)."""
    return cast(Owned, doc)


@dataclass(frozen=True)
class Kind(Generic[D]):
    """What differs between the catalog resources."""

    spec: Callable[[object], D]  # the body, normalised and validated
    secret_paths: secrets.PathsFn
    check: Callable[[D, D | None], None] = _no_check  # after secrets were sealed or kept
    owned: bool = False  # the document records its creator as `owner`


async def create(
    repo: Repository[D],
    scope: str | None,
    kind: Kind[D],
    body: object,
    box: SecretBox,
    user: str,
    prepare: Prepare[D] | None = None,
) -> D:
    doc = kind.spec(body)
    generated = not doc.get("name")
    if generated:
        doc["name"] = name_from_alias(doc["alias"])
    if user and kind.owned:
        _owned(doc)["owner"] = user
    secrets.seal(doc, None, kind.secret_paths, box.encrypt, box.reseal)
    kind.check(doc, None)
    if prepare:
        await prepare(doc)
    return await repo.insert(scope, doc, generated_name=generated)


async def replace(
    repo: Repository[D],
    stored: D,
    kind: Kind[D],
    body: object,
    box: SecretBox,
    prepare: Prepare[D] | None = None,
) -> D:
    """PUT semantics: the body is the whole new resource; name and creation time stay."""
    doc = kind.spec(body)
    if doc.get("name", stored["name"]) != stored["name"]:
        raise ValidationFailed(
            f"name cannot be changed (path names {stored['name']!r}, body {doc['name']!r})"
        )
    doc["name"] = stored["name"]
    if kind.owned:
        new, old = _owned(doc), _owned(stored)
        if not new.get("owner") and old.get("owner"):
            new["owner"] = old["owner"]
    secrets.seal(doc, stored, kind.secret_paths, box.encrypt, box.reseal)
    kind.check(doc, stored)
    if prepare:
        await prepare(doc)
    return await repo.replace(stored, doc)
