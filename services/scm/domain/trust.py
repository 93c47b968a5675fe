"""Who may start a run from a comment, and which webhook runs get the project's secrets.

A CI server runs the code of every pull request it builds. Two rules keep that code from the
project's credentials and keep strangers from starting runs by comment:

- **Fork pull requests run untrusted.** A run started by a pull request (GitHub
  `pull_request`, GitLab merge request) or by a `pullRequestComment` on one is untrusted
  when its head repository is not the pipeline's repository: a fork, a head whose
  repository was deleted, or a payload that does not tell (GitHub comments name no head: the
  scm service asks the API first, and an unanswered question counts as a fork). It is also
  untrusted when the event's repository is not the pipeline's main repository (a webhook
  configured by hand on another repository). An untrusted record gets no secret at all
  (services/scheduler/domain/records.py `withhold_secrets`), and the stages that need one
  are skipped with a reason. `autoTrigger.scmTrigger.forkSecrets: true` opts a pipeline out.
- **Comments start runs only from those who may write.** GitHub: the comment's
  `author_association` is OWNER, MEMBER or COLLABORATOR. GitLab: the note's author has
  Developer access (30) or more on the project, which the payload does not say: the scm
  service asks `GET /projects/:id/members/all/:user_id` (404: not a member).

Pure: the API answers come in as plain values.
"""

from __future__ import annotations

from typing import Final

from services.scm.domain.events import ScmEvent
from shared.contracts.catalog import ScmTrigger

FORK_SECRETS: Final = "forkSecrets"  # autoTrigger.scmTrigger.forkSecrets
WRITE_ASSOCIATIONS = ("OWNER", "MEMBER", "COLLABORATOR")
DEVELOPER = 30  # GitLab access levels: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner
LEVEL_NAMES = {
    0: "No",
    5: "Minimal",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}


def fork_secrets(scm_trigger: ScmTrigger | None) -> bool:
    """Whether the pipeline lets fork pull requests have its secrets."""
    return (scm_trigger or {}).get(FORK_SECRETS) is True


def same_repo(a: str, b: str) -> bool:
    """Repository paths compared as the SCMs do (case-insensitively, without `.git`). A
    path that is the other's tail (`sub/name` of `group/sub/name`, as
    `shared.repos.reported_repo` gives for a main repository on a mirror) counts as the
    same."""
    left = a.strip("/").lower().removesuffix(".git")
    right = b.strip("/").lower().removesuffix(".git")
    return left == right or left.endswith("/" + right) or right.endswith("/" + left)


def untrusted_reason(event: ScmEvent, pipeline_repo: str | None) -> str | None:
    """Why a run started by `event` must not get the project's secrets; None when it may.

    `pipeline_repo` is the pipeline's main repository path (`notify.scm_repo`), None when it
    is no GitHub/GitLab source of the project's SCM (then only the payload decides).
    """
    if event.kind not in ("pull_request", "comment"):
        return None
    what = f"{event.pr_word} #{event.number}"
    if event.from_fork is None:
        return f"{what}: cannot tell whether its changes come from a fork"
    if event.from_fork:
        origin = f"fork {event.head_repo}" if event.head_repo else "a fork that no longer exists"
        into = f" into {event.repo}" if event.repo else ""
        return f"{what} comes from {origin}{into}"
    if pipeline_repo and event.repo and not same_repo(event.repo, pipeline_repo):
        return f"{what} is on {event.repo}, not on the pipeline's repository {pipeline_repo}"
    return None


def github_comment_refusal(event: ScmEvent) -> str | None:
    """Why a GitHub comment may not start a run; None when its author may write."""
    association = event.author_association
    if association in WRITE_ASSOCIATIONS:
        return None
    who = f"{event.author}" if event.author else "the comment's author"
    role = association or "unknown"
    return (
        f"{who} may not start runs by comment: author_association is {role}, "
        f"one of {', '.join(WRITE_ASSOCIATIONS)} is needed"
    )


def gitlab_comment_refusal(event: ScmEvent, level: int | None) -> str | None:
    """Why a GitLab note may not start a run, given its author's access level on the
    project (None: not a member); None when it is Developer or above."""
    if level is not None and level >= DEVELOPER:
        return None
    who = event.author or (f"user {event.author_id}" if event.author_id else "the note's author")
    has = "is not a member of the project" if level is None else f"has {_level(level)} access"
    return f"{who} may not start runs by comment: {has}, Developer or above is needed"


def _level(level: int) -> str:
    name = LEVEL_NAMES.get(level)
    return f"{name} ({level})" if name else f"level {level}"
