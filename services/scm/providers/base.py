"""What every SCM adapter offers, and the factory that picks one for a project's `scm`.

Callers (the scm service's RPCs) hold a `Provider` and never branch on the SCM type. Errors
are the bus contract's (shared/contracts/errors.py), so they cross RPC to the gateway as they
are: `CredentialsRejected` (the SCM said 401), `PermissionDenied` (403, or GitHub's 404 on an
action that needs admin), `NotFound` (no such repository for these credentials),
`Unreachable` (no answer, TLS failure, 5xx), `InvalidRequest` (the request itself is wrong).
"""

from __future__ import annotations

from typing import Final, Literal, Protocol, TypedDict, TypeGuard, get_args

from services.scm.domain.notify import CommitState
from shared.contracts import catalog
from shared.contracts.errors import (
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unreachable,
)
from shared.contracts.rpc import ScmAccount

SCM_TYPES: Final = catalog.SCM_TYPES
TIMEOUT = 15.0  # seconds per SCM request; an RPC caller waits for a few of them at most

# Cyclone's names for what a webhook reports: the scmTrigger keys (catalog.WEBHOOK_EVENTS,
# which this type spells for the checker; tests/scm/test_providers.py keeps them equal). Each
# adapter maps them to its own event names (GitHub `pull_request`, GitLab
# `merge_requests_events`, ...).
WebhookEvent = Literal["push", "tagRelease", "pullRequest", "pullRequestComment"]
WEBHOOK_EVENTS: Final = catalog.WEBHOOK_EVENTS


def is_webhook_event(name: str) -> TypeGuard[WebhookEvent]:
    return name in get_args(WebhookEvent)


# A commit status as Cyclone means it (services/scm/domain/notify.py).
State = CommitState
STATUS_CONTEXT = "continuous-integration/cyclone"


class Repo(TypedDict):
    """One repository the credentials reach: the spec's RepoObject."""

    name: str  # "owner/name" (GitHub full name, GitLab path with namespace)
    url: str  # clone URL over HTTP(S)


class PullHead(TypedDict):
    """Where a pull request's changes come from (asked when a comment names only its number)."""

    sha: str  # the head commit
    repo: str  # the head repository's "owner/name"; "" when it was deleted
    from_fork: bool  # the head repository is not the base repository


class Provider(Protocol):
    """One SCM account. `repo` is "owner/name" (GitLab: the full "group/sub/name" path)."""

    def check(self) -> str:
        """Verify the credentials; the login they belong to."""
        ...

    def repos(self) -> list[Repo]: ...

    def branches(self, repo: str) -> list[str]: ...

    def tags(self, repo: str) -> list[str]: ...

    def template_type(self, repo: str) -> str:
        """The top language, refined to Maven/Gradle/NodeJS by build files at the root;
        "" when the SCM knows no language."""
        ...

    def dockerfiles(self, repo: str) -> list[str]:
        """Paths of the files named `Dockerfile` anywhere in the default branch."""
        ...

    def create_webhook(self, repo: str, url: str, secret: str, events: list[WebhookEvent]) -> str:
        """Register a webhook delivering `events` to `url`, signed with `secret`; its id."""
        ...

    def update_webhook(
        self, repo: str, hook_id: str, url: str, secret: str, events: list[WebhookEvent]
    ) -> str:
        """Change a webhook; one gone from the SCM meanwhile is created again. Its id."""
        ...

    def delete_webhook(self, repo: str, hook_id: str) -> None:
        """Remove a webhook; one already gone is fine."""
        ...

    def create_status(
        self,
        repo: str,
        sha: str,
        state: State,
        target_url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None: ...

    def create_tag(self, repo: str, name: str, sha: str, message: str) -> None:
        """An annotated tag `name` on commit `sha` (GitHub: tag object, then the ref)."""
        ...

    def pull_head(self, repo: str, number: int) -> PullHead:
        """The head of pull request `number` (GitHub; others: InvalidRequest)."""
        ...

    def access_level(self, repo: str, user_id: int) -> int | None:
        """A user's access level on the repository, inherited ones included (GitLab: 30 is
        Developer); None when the user is no member. Others: InvalidRequest."""
        ...


def provider_for(scm: ScmAccount, timeout: float = TIMEOUT) -> Provider:
    """The adapter for a project's `scm` section, secrets in plain text
    (`{type, server, username?, password?, token?}`)."""
    kind = scm.get("type")
    if kind == "Github":
        from services.scm.providers.github import GitHub

        return GitHub(scm, timeout)
    if kind == "Gitlab":
        from services.scm.providers.gitlab import GitLab

        return GitLab(scm, timeout)
    if kind == "SVN":
        from services.scm.providers.svn import Subversion

        return Subversion(scm, timeout)
    raise InvalidRequest(f"unsupported SCM type {kind!r}; one of {', '.join(SCM_TYPES)}")


def error_for(
    status: int | None, message: str, scm: str, what: str, admin_action: bool = False
) -> Exception:
    """The contract error for an SCM's HTTP answer `status` (None: no answer at all).

    `admin_action`: the request needs admin rights on the repository (webhooks). GitHub
    answers 404 rather than 403 to those who lack them, so there 404 is a permission error.
    """
    detail = f"{scm}: {what}: {message}" if message else f"{scm}: {what}"
    if status is None:
        return Unreachable(f"{scm} did not answer ({what}): {message}")
    if status == 401:
        return CredentialsRejected(f"{scm} rejected the credentials ({what}): {message}")
    if status == 403 or (status == 404 and admin_action):
        if "rate limit" in message.lower():
            return Unreachable(f"{scm} rate limit exceeded ({what}): {message}")
        why = "; the account needs admin rights on the repository (GitLab: maintainer)"
        return PermissionDenied(detail + (why if admin_action else ""))
    if status == 404:
        return NotFound(f"{detail} (not found, or not visible to these credentials)")
    if status in (400, 409, 422):
        return InvalidRequest(detail)
    return Unreachable(f"{detail} (HTTP {status})")


def network_reason(exc: Exception) -> str:
    """A short why for a request that got no answer (requests' own text nests three deep)."""
    text = str(exc)
    for marker, why in (
        ("NameResolution", "its host name does not resolve"),
        ("Name or service not known", "its host name does not resolve"),
        ("Connection refused", "connection refused"),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted"),
        ("timed out", "timed out"),
        ("Read timed out", "timed out"),
    ):
        if marker in text:
            return why
    return f"{type(exc).__name__}: {text[:300]}"
