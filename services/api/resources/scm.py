"""The project's SCM through the scm service: repos, branches, tags, template type,
Dockerfiles (credential checks and webhooks: services/api/application/scm.py)."""

from __future__ import annotations

import falcon.asgi

from services.api import views
from services.api.application.scm import account
from services.api.clients import ScmClient
from services.api.errors import ApiError
from services.api.store import CatalogStore
from shared.contracts import rpc
from shared.crypto import SecretBox


class _ScmQuery:
    def __init__(self, store: CatalogStore, scm: ScmClient, box: SecretBox) -> None:
        self._store = store
        self._scm = scm
        self._box = box

    async def _account(self, project: str) -> rpc.ScmAccount:
        return account(self._box, await self._store.projects.get(None, project))


class _RepoQuery(_ScmQuery):
    """GET /api/v1/projects/{project}/<what>?repo=: one scm RPC, answered as the spec says."""

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        repo = (req.get_param("repo") or "").strip()
        if not repo:
            raise ApiError(400, "query parameter repo is required", "BadRequest")
        resp.media = await self.answer(await self._account(project), repo)

    async def answer(self, scm: rpc.ScmAccount, repo: str) -> object:
        raise NotImplementedError


class Branches(_RepoQuery):
    async def answer(self, scm: rpc.ScmAccount, repo: str) -> views.Page:
        branches = await self._scm.scm_branches(scm, repo)
        return views.page(len(branches), branches)


class Tags(_RepoQuery):
    async def answer(self, scm: rpc.ScmAccount, repo: str) -> views.Page:
        tags = await self._scm.scm_tags(scm, repo)
        return views.page(len(tags), tags)


class Dockerfiles(_RepoQuery):
    async def answer(self, scm: rpc.ScmAccount, repo: str) -> views.Page:
        found = await self._scm.scm_dockerfiles(scm, repo)
        return views.page(len(found), found)


class TemplateType(_RepoQuery):
    async def answer(self, scm: rpc.ScmAccount, repo: str) -> dict[str, str]:
        return {"type": await self._scm.scm_template_type(scm, repo)}


class Repos(_ScmQuery):
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        repos = await self._scm.scm_repos(await self._account(project))
        resp.media = views.page(len(repos), repos)
