"""The project's SCM through the scm service: repos, branches, tags, template type,
Dockerfiles; credential checks on project writes; webhooks registered for pipelines."""

from __future__ import annotations

import asyncio
import logging
import secrets as random
from typing import Any

import falcon.asgi
from bson import ObjectId

from services.api import views
from services.api.clients import Bus
from services.api.domain import webhooks
from services.api.domain.webhooks import Plan, Wanted
from services.api.errors import ApiError
from services.api.store import CatalogStore
from shared.contracts import rpc, services
from shared.crypto import SecretBox, is_encrypted

log = logging.getLogger(__name__)

SCM_TIMEOUT = 60.0  # an SCM call may take a few requests of up to 15 s each


def account(box: SecretBox, project: dict[str, Any]) -> rpc.ScmAccount:
    """The project's `scm` with its secrets decrypted, for the scm service."""
    scm = dict(project.get("scm") or {})
    for key in ("password", "token"):
        if is_encrypted(scm.get(key)):
            scm[key] = box.decrypt(scm[key])
    return rpc.ScmAccount(**{k: v for k, v in scm.items() if k in rpc.ScmAccount.__annotations__})


async def call(bus: Bus, method: str, *args: Any) -> Any:
    return await bus.call(services.SCM, method, *args, timeout=SCM_TIMEOUT)


class _RepoQuery:
    """GET /api/v1/projects/{project}/<what>?repo=: one scm RPC, answered as the spec says."""

    method = ""

    def __init__(self, store: CatalogStore, bus: Bus, box: SecretBox) -> None:
        self._store = store
        self._bus = bus
        self._box = box

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        repo = (req.get_param("repo") or "").strip()
        if not repo:
            raise ApiError(400, "query parameter repo is required", "BadRequest")
        doc = await self._store.projects.get(None, project)
        resp.media = self.answer(await call(self._bus, self.method, account(self._box, doc), repo))

    def answer(self, result: Any) -> Any:
        return views.page(len(result), result)


class Branches(_RepoQuery):
    method = rpc.SCM_BRANCHES


class Tags(_RepoQuery):
    method = rpc.SCM_TAGS


class Dockerfiles(_RepoQuery):
    method = rpc.SCM_DOCKERFILES


class TemplateType(_RepoQuery):
    method = rpc.SCM_TEMPLATE_TYPE

    def answer(self, result: Any) -> Any:
        return {"type": result}


class Repos:
    def __init__(self, store: CatalogStore, bus: Bus, box: SecretBox) -> None:
        self._store = store
        self._bus = bus
        self._box = box

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project: str
    ) -> None:
        doc = await self._store.projects.get(None, project)
        repos = await call(self._bus, rpc.SCM_REPOS, account(self._box, doc))
        resp.media = views.page(len(repos), repos)


class CredentialCheck:
    """Project writes ask the SCM whether the credentials work (CYCLONE_SCM_VERIFY, on by
    default); an update checks again only when the `scm` section changed."""

    def __init__(self, bus: Bus, box: SecretBox, enabled: bool) -> None:
        self._bus = bus
        self._box = box
        self.enabled = enabled

    def preparer(self, stored: dict[str, Any] | None) -> Any:
        async def prepare(doc: dict[str, Any]) -> None:
            if not self.enabled or (stored is not None and stored.get("scm") == doc.get("scm")):
                return
            await call(self._bus, rpc.SCM_CHECK, account(self._box, doc))

        return prepare


class Webhooks:
    """Registers, updates and removes pipelines' webhooks on the SCM (domain/webhooks.py).

    Enabled by CYCLONE_PUBLIC_URL (the address the SCM delivers to). A create or update on the
    SCM happens before the pipeline is saved, so a refusal (no admin right: 403) saves
    nothing; a hook made for a save that then fails is removed again. Removing an old hook
    happens after the save and only logs failures: a stale hook's deliveries start nothing.
    """

    def __init__(self, bus: Bus, box: SecretBox, public_url: str) -> None:
        self._bus = bus
        self._box = box
        self.public_url = public_url

    def plan(
        self, project: dict[str, Any], doc: dict[str, Any], stored: dict[str, Any] | None
    ) -> Plan:
        """What to do on the SCM for saving `doc` over `stored` (None for a create)."""
        old = webhooks.stored_hook(stored)
        trigger = webhooks.scm_trigger(doc)
        if not self.public_url:
            if old is not None and trigger:
                trigger["webhook"] = old  # registered earlier; left alone while disabled
            return Plan()
        return webhooks.plan(webhooks.wanted(project, doc), old)

    def _secret(self, doc: dict[str, Any]) -> str:
        """The pipeline's webhook secret, generated (and sealed) when the user gave none."""
        trigger = webhooks.scm_trigger(doc)
        if not trigger.get("webhookSecret"):
            trigger["webhookSecret"] = self._box.encrypt(random.token_urlsafe(32))
        return self._box.decrypt(trigger["webhookSecret"])

    async def before_save(
        self, project: dict[str, Any], doc: dict[str, Any], plan: Plan
    ) -> dict[str, Any] | None:
        """Create or update on the SCM; the hook made anew (to undo if the save fails)."""
        want: Wanted | None = plan.create or (plan.update[1] if plan.update else None)
        if want is None:
            return None
        doc.setdefault("_id", ObjectId())
        url = webhooks.hook_url(self.public_url, str(doc["_id"]), want.kind)
        scm = account(self._box, project)
        secret = self._secret(doc)
        events = list(want.events)
        if plan.update:
            stored = plan.update[0]
            hook_id = await call(
                self._bus, rpc.UPDATE_WEBHOOK, scm, want.repo, stored["id"], url, secret, events
            )
            made = hook_id != stored["id"]
        else:
            hook_id = await call(self._bus, rpc.CREATE_WEBHOOK, scm, want.repo, url, secret, events)
            made = True
        hook = {"id": str(hook_id), "repo": want.repo, "url": url}
        webhooks.scm_trigger(doc)["webhook"] = hook
        return hook if made else None

    async def remove(self, project: dict[str, Any], hook: dict[str, Any] | None) -> None:
        """Best effort: a hook that cannot be removed is logged, never an error."""
        if hook is None:
            return
        try:
            await call(
                self._bus, rpc.DELETE_WEBHOOK, account(self._box, project), hook["repo"], hook["id"]
            )
        except Exception as exc:  # noqa: BLE001 - the save or delete already happened
            log.warning("could not remove webhook %s on %s: %r", hook["id"], hook["repo"], exc)

    async def remove_all(self, project: dict[str, Any], pipelines: list[dict[str, Any]]) -> None:
        hooks = [webhooks.stored_hook(p) for p in pipelines]
        await asyncio.gather(*(self.remove(project, h) for h in hooks if h))
