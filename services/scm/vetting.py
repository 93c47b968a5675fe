"""Before a webhook starts a run: may this comment start one, and is the run trusted?

The rules are pure (services/scm/domain/trust.py); this module asks the SCM what a payload
does not say, through the project's own account: GitLab, the note author's access level;
GitHub, where a commented pull request's head comes from. An SCM that cannot answer makes
the comment refused, or the run untrusted: never the other way round.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from services.scm.domain import notify, trust
from services.scm.domain.events import ScmEvent
from services.scm.providers.base import Provider
from shared.contracts import errors
from shared.contracts.catalog import Pipeline, Project, ScmSection

log = logging.getLogger(__name__)

# Opens a project's `scm` section (secrets sealed, as in the snapshots) into an adapter.
Accounts = Callable[[ScmSection], Provider]
# Seconds per SCM request asked while a webhook waits for its answer: GitHub and GitLab give
# up on a delivery after 10 s, and a GitLab password account needs two requests.
TIMEOUT = 4.0
SCM_ERRORS = errors.EXPECTED


def comment_refusal(event: ScmEvent, project: Project, accounts: Accounts | None) -> str | None:
    """Why a matching comment may not start a run; None when its author may write."""
    if event.kind != "comment":
        return None
    if event.provider == "github":
        return trust.github_comment_refusal(event)
    if event.author_id is None:
        return "the note names no author whose access could be checked"
    scm = project.get("scm", {})
    if scm.get("type") != "Gitlab" or accounts is None:
        return (
            f"cannot check the access of {event.author or event.author_id}: the project's "
            "SCM is not GitLab"
        )
    repo = str(event.project_id) if event.project_id else (event.repo or "")
    try:
        level = accounts(scm).access_level(repo, event.author_id)
    except SCM_ERRORS as exc:
        log.warning("could not check the access of GitLab user %s: %s", event.author_id, exc)
        return f"cannot check the access of {event.author or event.author_id}: {exc}"
    return trust.gitlab_comment_refusal(event, level)


def untrusted_reason(
    event: ScmEvent,
    project: Project,
    pipeline: Pipeline,
    accounts: Accounts | None,
) -> tuple[ScmEvent, str | None]:
    """The event (with a GitHub comment's pull request head filled in when the API told it)
    and why its run must go without secrets (None: trusted). A pipeline with
    `autoTrigger.scmTrigger.forkSecrets: true` trusts every run."""
    if event.kind not in ("pull_request", "comment"):
        return event, None
    where = notify.scm_repo(project, pipeline)
    pipeline_repo = where[1] if where else None
    if event.provider == "github" and event.kind == "comment" and event.from_fork is None:
        event = _with_pull_head(event, project, pipeline_repo, accounts)
    reason = trust.untrusted_reason(event, pipeline_repo)
    scm_trigger = pipeline.get("autoTrigger", {}).get("scmTrigger")
    if reason is None or trust.fork_secrets(scm_trigger):
        return event, None
    return event, reason


def _with_pull_head(
    event: ScmEvent,
    project: Project,
    pipeline_repo: str | None,
    accounts: Accounts | None,
) -> ScmEvent:
    """A GitHub comment's event with its pull request's head repository (and whether it is a
    fork), asked through the project's account; unchanged when that cannot be asked or
    answered. The run still checks out `refs/pull/N/head`: a pull request's head repository
    never changes, so what was vetted is what runs."""
    scm = project.get("scm", {})
    repo = event.repo or pipeline_repo
    if scm.get("type") != "Github" or accounts is None or not repo or event.number is None:
        return event
    try:
        head = accounts(scm).pull_head(repo, event.number)
    except SCM_ERRORS as exc:
        log.warning("could not read pull request #%s of %s: %s", event.number, repo, exc)
        return event
    return dataclasses.replace(event, head_repo=head["repo"] or None, from_fork=head["from_fork"])
