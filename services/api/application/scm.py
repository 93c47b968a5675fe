"""The project's SCM account as the scm service takes it; credential checks on project saves;
the webhooks registered on the SCM for pipelines (services/api/domain/webhooks.py rules)."""

from __future__ import annotations

import asyncio
import logging
import secrets as random
from collections.abc import Awaitable, Callable

from services.api.clients import ScmClient
from services.api.domain import webhooks
from services.api.domain.webhooks import Plan, Wanted
from services.api.store import new_id
from shared.contracts import rpc
from shared.contracts.catalog import Pipeline, Project, Webhook
from shared.crypto import SecretBox, is_encrypted

log = logging.getLogger(__name__)


def account(box: SecretBox, project: Project) -> rpc.ScmAccount:
    """The project's `scm` with its secrets decrypted, for the scm service."""

    def plain(value: str) -> str:
        return box.decrypt(value) if is_encrypted(value) else value

    scm = project.get("scm", {})
    out = rpc.ScmAccount()
    if "type" in scm:
        out["type"] = scm["type"]
    if "server" in scm:
        out["server"] = scm["server"]
    if "username" in scm:
        out["username"] = scm["username"]
    if "password" in scm:
        out["password"] = plain(scm["password"])
    if "token" in scm:
        out["token"] = plain(scm["token"])
    return out


class CredentialCheck:
    """Project writes ask the SCM whether the credentials work (CYCLONE_SCM_VERIFY, on by
    default); an update checks again only when the `scm` section changed."""

    def __init__(self, scm: ScmClient, box: SecretBox, enabled: bool) -> None:
        self._scm = scm
        self._box = box
        self.enabled = enabled

    def preparer(self, stored: Project | None) -> Callable[[Project], Awaitable[None]]:
        async def prepare(doc: Project) -> None:
            if not self.enabled or (stored is not None and stored.get("scm") == doc.get("scm")):
                return
            await self._scm.scm_check(account(self._box, doc))

        return prepare


class WebhookRegistrar:
    """Registers, updates and removes pipelines' webhooks on the SCM (domain/webhooks.py).

    Enabled by CYCLONE_PUBLIC_URL (the address the SCM delivers to). A create or update on the
    SCM happens before the pipeline is saved, so a refusal (no admin right: 403) saves
    nothing; a hook made for a save that then fails is removed again. Removing an old hook
    happens after the save and only logs failures: a stale hook's deliveries start nothing.
    """

    def __init__(self, scm: ScmClient, box: SecretBox, public_url: str) -> None:
        self._scm = scm
        self._box = box
        self.public_url = public_url

    def plan(self, project: Project, doc: Pipeline, stored: Pipeline | None) -> Plan:
        """What to do on the SCM for saving `doc` over `stored` (None for a create)."""
        old = webhooks.stored_hook(stored)
        trigger = webhooks.scm_trigger(doc)
        if not self.public_url:
            if old is not None and trigger:
                trigger["webhook"] = old  # registered earlier; left alone while disabled
            return Plan()
        return webhooks.plan(webhooks.wanted(project, doc), old)

    def _secret(self, doc: Pipeline) -> str:
        """The pipeline's webhook secret, generated (and sealed) when the user gave none."""
        trigger = webhooks.scm_trigger(doc)
        if not trigger.get("webhookSecret"):
            trigger["webhookSecret"] = self._box.encrypt(random.token_urlsafe(32))
        return self._box.decrypt(trigger["webhookSecret"])

    async def before_save(self, project: Project, doc: Pipeline, plan: Plan) -> Webhook | None:
        """Create or update on the SCM; the hook made anew (to undo if the save fails)."""
        want: Wanted | None = plan.create or (plan.update[1] if plan.update else None)
        if want is None:
            return None
        if not doc.get("id"):
            doc["id"] = new_id()  # the hook URL names the pipeline's id
        url = webhooks.hook_url(self.public_url, doc["id"], want.kind)
        scm = account(self._box, project)
        secret = self._secret(doc)
        events = list(want.events)
        if plan.update:
            stored = plan.update[0]
            hook_id = await self._scm.update_webhook(
                scm, want.repo, stored["id"], url, secret, events
            )
            made = hook_id != stored["id"]
        else:
            hook_id = await self._scm.create_webhook(scm, want.repo, url, secret, events)
            made = True
        hook = Webhook(id=str(hook_id), repo=want.repo, url=url)
        webhooks.scm_trigger(doc)["webhook"] = hook
        return hook if made else None

    async def remove(self, project: Project, hook: Webhook | None) -> None:
        """Best effort: a hook that cannot be removed is logged, never an error."""
        if hook is None:
            return
        try:
            await self._scm.delete_webhook(account(self._box, project), hook["repo"], hook["id"])
        except Exception as exc:  # noqa: BLE001 - the save or delete already happened
            log.warning("could not remove webhook %s on %s: %r", hook["id"], hook["repo"], exc)

    async def remove_all(self, project: Project, pipelines: list[Pipeline]) -> None:
        hooks = [webhooks.stored_hook(p) for p in pipelines]
        await asyncio.gather(*(self.remove(project, h) for h in hooks if h))
