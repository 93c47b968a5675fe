"""Catalog documents (as services/api/store.py hands them out: `id`, RFC 3339 times) to API
answers and bus snapshots: answers mask every secret, snapshots keep them sealed."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TypeVar, cast

from typing_extensions import TypedDict

from services.api.domain import secrets
from shared.contracts.catalog import Integration, Pipeline, Project
from shared.contracts.records import RecordView

D = TypeVar("D", bound=Mapping[str, object])
T = TypeVar("T")


class PipelineView(Pipeline, total=False):
    """A pipeline as the API answers it: with the recent records the query asked for."""

    recentRecords: list[RecordView]
    recentSuccessRecords: list[RecordView]
    recentFailedRecords: list[RecordView]


class Page(TypedDict):
    metadata: dict[str, int]  # {"total": ...}
    items: Sequence[object]


def answer(doc: D, secret_paths: secrets.PathsFn) -> D:
    """A copy of `doc` with every stored secret as `******`."""
    return secrets.masked(copy.deepcopy(doc), secret_paths)


def project(doc: Project) -> Project:
    return answer(doc, secrets.project_paths)


def integration(doc: Integration) -> Integration:
    return answer(doc, secrets.integration_paths)


def pipeline(doc: Pipeline, recent: Mapping[str, list[RecordView]]) -> PipelineView:
    return cast(PipelineView, {**answer(doc, secrets.pipeline_paths), **recent})


def page(total: int, items: Sequence[object]) -> Page:
    return {"metadata": {"total": total}, "items": items}


def snapshot(doc: T) -> T:
    """A catalog document as JSON for the bus: a copy, secrets still sealed."""
    return copy.deepcopy(doc)
