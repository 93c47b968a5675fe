"""Webhooks Cyclone registers on GitHub/GitLab for pipelines with SCM triggers.

A pipeline wants a webhook when its `autoTrigger.scmTrigger` names a webhook event (push,
tagRelease, pullRequest, pullRequestComment) and its main repository is a Github or Gitlab
source; the hook goes on that repository, through the project's SCM account, so the two must
agree (type and host). What was registered is kept as `scmTrigger.webhook {id, repo, url}`
(read-only: ignored on input). `plan` says what a save must do on the SCM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.api.domain.errors import ValidationFailed

EVENTS = ("push", "tagRelease", "pullRequest", "pullRequestComment")
_GITHUB_HOSTS = {"github.com", "www.github.com"}


@dataclass(frozen=True)
class Wanted:
    kind: str  # "github" | "gitlab": the ingress path and the adapter
    repo: str  # "owner/name" or "group/sub/name"
    events: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    create: Wanted | None = None  # register a new hook
    update: tuple[dict[str, Any], Wanted] | None = None  # (stored hook, what it must become)
    delete: dict[str, Any] | None = None  # the stored hook to remove (after the save)


def scm_trigger(doc: dict[str, Any]) -> dict[str, Any]:
    trigger = (doc.get("autoTrigger") or {}).get("scmTrigger")
    return trigger if isinstance(trigger, dict) else {}


def stored_hook(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    hook = scm_trigger(doc or {}).get("webhook")
    return hook if isinstance(hook, dict) and hook.get("id") else None


def _host(url: str) -> str:
    host = (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower()
    return "github.com" if host in _GITHUB_HOSTS else host


def repo_path(server: str, url: str) -> str | None:
    """The repository path of clone URL `url` on SCM `server`, None when it is elsewhere.

    `https://github.com/caicloud/toy.git` -> `caicloud/toy`; a GitLab under a path prefix
    (`https://host/gitlab`) is stripped of it; `git@host:group/x.git` is understood too.
    """
    if "://" not in url and ":" in url and "@" in url.split(":", 1)[0]:
        user_host, path = url.split(":", 1)
        url = f"ssh://{user_host}/{path}"
    parts = urlsplit(url)
    if not parts.hostname or _host(url) != _host(server):
        return None
    prefix = urlsplit(server if "://" in server else f"https://{server}").path.strip("/")
    path = parts.path.strip("/")
    if prefix and parts.scheme in ("http", "https"):
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) + 1 :]
    path = path.removesuffix(".git").strip("/")
    return path if path.count("/") >= 1 else None


def wanted(project: dict[str, Any], pipeline: dict[str, Any]) -> Wanted | None:
    """The hook `pipeline` needs, None for none; ValidationFailed when it cannot have one."""
    trigger = scm_trigger(pipeline)
    events = tuple(e for e in EVENTS if isinstance(trigger.get(e), dict))
    if not events:
        return None
    main = (((pipeline.get("build") or {}).get("stages") or {}).get("codeCheckout") or {}).get(
        "mainRepo"
    ) or {}
    kind = {"Github": "github", "Gitlab": "gitlab"}.get(main.get("type", ""))
    if kind is None:
        return None  # SVN uses the post-commit hook; `other` sources set up hooks by hand
    scm = project.get("scm") or {}
    url = (main.get(kind) or {}).get("url") or ""
    field = "build.stages.codeCheckout.mainRepo"
    if scm.get("type", "").lower() != kind:
        raise ValidationFailed(
            f"autoTrigger.scmTrigger needs a webhook on the main repository, which is on"
            f" {main['type']}, but the project's SCM is {scm.get('type')}",
            [{"field": field, "error": f"not on the project's SCM ({scm.get('type')})"}],
        )
    repo = repo_path(scm.get("server") or "", url)
    if repo is None:
        raise ValidationFailed(
            f"autoTrigger.scmTrigger needs a webhook on the main repository {url}, which is not"
            f" a repository of the project's SCM server {scm.get('server')}",
            [{"field": field, "error": f"not a repository of {scm.get('server')}"}],
        )
    return Wanted(kind, repo, events)


def plan(want: Wanted | None, stored: dict[str, Any] | None) -> Plan:
    if want is None:
        return Plan(delete=stored)
    if stored is not None and stored.get("repo") == want.repo:
        return Plan(update=(stored, want))
    return Plan(create=want, delete=stored)


def hook_url(public_url: str, pipeline_id: str, kind: str) -> str:
    return f"{public_url.rstrip('/')}/api/v1/pipelines/{pipeline_id}/{kind}webhook"
