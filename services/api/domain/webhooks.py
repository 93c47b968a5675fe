"""Webhooks Cyclone registers on GitHub/GitLab for pipelines with SCM triggers.

A pipeline wants a webhook when its `autoTrigger.scmTrigger` names a webhook event (push,
tagRelease, pullRequest, pullRequestComment) and its main repository is a Github or Gitlab
source; the hook goes on that repository, through the project's SCM account, so the two must
agree (type and host). What was registered is kept as `scmTrigger.webhook {id, repo, url}`
(read-only: ignored on input). `plan` says what a save must do on the SCM.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.api.domain.errors import ValidationFailed
from shared.contracts.catalog import (
    WEBHOOK_EVENTS,
    Pipeline,
    Project,
    ScmTrigger,
    Webhook,
    main_repo,
    repo_section,
)
from shared.repos import repo_path

# Which SCM a main repository's type names: the ingress path and the adapter.
_KINDS = {"Github": "github", "Gitlab": "gitlab"}


@dataclass(frozen=True)
class Wanted:
    kind: str  # "github" | "gitlab": the ingress path and the adapter
    repo: str  # "owner/name" or "group/sub/name"
    events: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    create: Wanted | None = None  # register a new hook
    update: tuple[Webhook, Wanted] | None = None  # (stored hook, what it must become)
    delete: Webhook | None = None  # the stored hook to remove (after the save)


def scm_trigger(doc: Pipeline) -> ScmTrigger:
    """The pipeline's scmTrigger, as stored (a new empty one, not kept, when it has none)."""
    return doc.get("autoTrigger", {}).get("scmTrigger", {})


def stored_hook(doc: Pipeline | None) -> Webhook | None:
    hook = scm_trigger(doc or {}).get("webhook")
    return hook if hook and hook.get("id") else None


def wanted(project: Project, pipeline: Pipeline) -> Wanted | None:
    """The hook `pipeline` needs, None for none; ValidationFailed when it cannot have one."""
    trigger = scm_trigger(pipeline)
    events = tuple(e for e in WEBHOOK_EVENTS if isinstance(trigger.get(e), dict))
    if not events:
        return None
    main = main_repo(pipeline)
    kind = _KINDS.get(main.get("type", ""))
    if kind is None:
        return None  # SVN uses the post-commit hook; `other` sources set up hooks by hand
    scm = project.get("scm", {})
    url = repo_section(main).get("url", "")
    field = "build.stages.codeCheckout.mainRepo"
    if scm.get("type", "").lower() != kind:
        raise ValidationFailed(
            f"autoTrigger.scmTrigger needs a webhook on the main repository, which is on"
            f" {main['type']}, but the project's SCM is {scm.get('type')}",
            [{"field": field, "error": f"not on the project's SCM ({scm.get('type')})"}],
        )
    repo = repo_path(scm.get("server", ""), url)
    if repo is None:
        raise ValidationFailed(
            f"autoTrigger.scmTrigger needs a webhook on the main repository {url}, which is not"
            f" a repository of the project's SCM server {scm.get('server')}",
            [{"field": field, "error": f"not a repository of {scm.get('server')}"}],
        )
    return Wanted(kind, repo, events)


def plan(want: Wanted | None, stored: Webhook | None) -> Plan:
    if want is None:
        return Plan(delete=stored)
    if stored is not None and stored.get("repo") == want.repo:
        return Plan(update=(stored, want))
    return Plan(create=want, delete=stored)


def hook_url(public_url: str, pipeline_id: str, kind: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/pipelines/{pipeline_id}/{kind}webhook"
