"""Stored documents to API answers: string ids, RFC 3339 times, secrets masked."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from bson import ObjectId

from services.api.domain import secrets
from shared import timefmt


def answer(doc: dict[str, Any], secret_paths: secrets.PathsFn) -> dict[str, Any]:
    out = {"id": str(doc["_id"]), **copy.deepcopy(doc)}
    del out["_id"]
    for key, value in list(out.items()):
        if isinstance(value, datetime):
            out[key] = timefmt.rfc3339(value)
    return secrets.masked(out, secret_paths)


def project(doc: dict[str, Any]) -> dict[str, Any]:
    return answer(doc, secrets.project_paths)


def integration(doc: dict[str, Any]) -> dict[str, Any]:
    return answer(doc, secrets.integration_paths)


def pipeline(doc: dict[str, Any], recent: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    out = answer(doc, secrets.pipeline_paths)
    out.update(recent)
    return out


def page(total: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"total": total}, "items": items}


def snapshot(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored catalog document as JSON for the bus (secrets stay sealed)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {("id" if k == "_id" else k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, ObjectId):
            return str(value)
        if isinstance(value, datetime):
            return timefmt.rfc3339(value)
        return value

    return plain(doc)
