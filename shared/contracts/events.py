"""Events on the bus: (source service, event type) pairs and their payloads.

A handler subscribes with `@event_handler(*PROJECT_DELETED)`; a dispatcher publishes with
`dispatch(*PROJECT_DELETED, payload)`. Event types are nouns in the past tense.
"""

from typing import Final, TypedDict

from shared.contracts import services

PROJECT_DELETED: Final = (services.API, "project_deleted")
PIPELINE_DELETED: Final = (services.API, "pipeline_deleted")


class ProjectDeleted(TypedDict):
    project_id: str
    project: str  # name
    pipeline_ids: list[str]


class PipelineDeleted(TypedDict):
    project_id: str
    project: str
    pipeline_id: str
    pipeline: str
