"""Projects: saving them (SCM credentials checked), and deleting one with everything that
hangs on it (its pipelines, their webhooks on the SCM and SVN hook claims, then the events
on which other services clean up)."""

from __future__ import annotations

from services.api import views
from services.api.application import catalog
from services.api.application.scm import CredentialCheck, WebhookRegistrar
from services.api.domain import secrets, validation
from services.api.domain.merge import merge_patch
from services.api.events import EventPublisher
from services.api.store import Announced, CatalogStore
from shared.contracts import events
from shared.contracts.catalog import Project
from shared.crypto import SecretBox

PROJECT: catalog.Kind[Project] = catalog.Kind(
    validation.project_spec, secrets.project_paths, validation.project_credentials, owned=True
)


class Projects:
    def __init__(
        self,
        store: CatalogStore,
        box: SecretBox,
        publisher: EventPublisher,
        check: CredentialCheck,
        hooks: WebhookRegistrar,
    ) -> None:
        self._store = store
        self._box = box
        self._publisher = publisher
        self._check = check
        self._hooks = hooks

    async def create(self, body: object, user: str) -> Project:
        return await catalog.create(
            self._store.projects, None, PROJECT, body, self._box, user, self._check.preparer(None)
        )

    async def replace(self, project: str, body: object) -> Project:
        stored = await self._store.projects.get(None, project)
        return await self._save(stored, body)

    async def patch(self, project: str, body: object) -> Project:
        """A partial update: `body` is merged into the stored project (RFC 7396)."""
        if not isinstance(body, dict):
            validation.project_spec(body)  # raises: a patch must be an object
        stored = await self._store.projects.get(None, project)
        return await self._save(stored, merge_patch(views.project(stored), body))

    async def _save(self, stored: Project, body: object) -> Project:
        doc = await catalog.replace(
            self._store.projects, stored, PROJECT, body, self._box, self._check.preparer(stored)
        )
        payload = events.ProjectSaved(project_id=doc["id"], project=views.snapshot(doc))
        await self._publisher.announce([(events.PROJECT_SAVED, payload)])
        return doc

    async def delete(self, project: str) -> None:
        """Deletes the project and its pipelines (and their webhooks on the SCM), then tells
        other services to clean up."""
        stored = await self._store.projects.get(None, project)
        project_id = stored["id"]
        pipelines = await self._store.pipelines.all_in_scope(project_id)
        await self._store.pipelines.delete_scope(project_id)
        await self._store.projects.delete(stored)
        await self._store.post_commit_runs.forget([p["id"] for p in pipelines])
        await self._hooks.remove_all(stored, pipelines)
        announced: list[Announced] = [
            (
                events.PIPELINE_DELETED,
                events.PipelineDeleted(
                    project_id=project_id, project=project, pipeline_id=p["id"], pipeline=p["name"]
                ),
            )
            for p in pipelines
        ]
        announced.append(
            (
                events.PROJECT_DELETED,
                events.ProjectDeleted(
                    project_id=project_id,
                    project=project,
                    pipeline_ids=[p["id"] for p in pipelines],
                ),
            )
        )
        await self._publisher.announce(announced)
