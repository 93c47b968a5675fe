"""Does a webhook event start a run of a pipeline, and on which ref and stages?

Rules, against `autoTrigger.scmTrigger` (spec: push {stages, branches}, tagRelease {stages},
pullRequest {stages}, pullRequestComment {stages, comments}):

- push to a branch: `push` set and the branch matches one of `branches`, each an exact name
  or an fnmatch glob on the branch name (`release/*`; `*` also crosses `/`). Empty or absent
  `branches` match every branch. The original suffix-matched the full ref, so `master` also
  matched `foo-master` and the tag `master` (original-server.md §14 item 22); not here.
  Ref: the pushed commit sha, so the run builds exactly that commit even if the branch
  moves before the worker clones (its full clone holds the commit unless the branch was
  force-pushed since; the checkout then tries `git fetch origin <sha>`).
- tag: `tagRelease` set, and the event is a GitHub `release` published, a GitHub `create` of
  a tag, or a GitLab tag push. Other release actions (the original ran on all of them) and
  tag deletions start nothing. A GitHub tag push (`push` on `refs/tags/...`) starts
  nothing either: it reaches push-trigger hooks too, and hooks subscribed to `create` get
  the same tag as a `create` event. Subscribe the webhook to `create` or to `release`, not
  both, or a release that creates its tag runs twice. Ref: `refs/tags/<tag>`.
- pull request opened, synchronize, reopened (GitLab: open, reopen, and update when it
  brought new commits; title or label edits start nothing): `pullRequest` set. Ref: GitHub,
  the head sha: GitHub lets a client fetch any commit a ref reaches by its sha, fork heads
  included (they are under `refs/pull/N/head`; actions/checkout fetches PRs this way), so
  the run builds the exact commit the event named even if the PR moves on. GitLab,
  `refs/merge-requests/N/head`, which the target project always has (fork commits
  included), while fetching an unadvertised sha depends on the server's settings.
- comment on an open pull request, created (not edited): `pullRequestComment` set and the
  stripped body equals one of the (stripped) `comments`, case-sensitively. Ref:
  `refs/pull/N/head` on GitHub (the payload names no commit; resolve it through the API for
  commit statuses), `refs/merge-requests/N/head` on GitLab.
- ping and other events: never.

`stages` is the matched trigger's list; empty means every stage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from services.scm.domain.events import ScmEvent
from shared.contracts.catalog import CommentTrigger, PushTrigger, ScmTrigger, StagesTrigger

PUSH = "push"
TAG_RELEASE = "tagRelease"
PULL_REQUEST = "pullRequest"
PULL_REQUEST_COMMENT = "pullRequestComment"

TRIGGER_OF_KIND = {
    "push": PUSH,
    "tag": TAG_RELEASE,
    "pull_request": PULL_REQUEST,
    "comment": PULL_REQUEST_COMMENT,
}

PR_ACTIONS = {"github": ("opened", "synchronize", "reopened"), "gitlab": ("open", "reopen")}
COMMENT_ACTIONS = {"github": "created", "gitlab": "create"}


@dataclass(frozen=True)
class Match:
    """The decision for one event and one pipeline.

    `ref` is what the run checks out ("" when `run` is False); `trigger_kind` is the
    scmTrigger key the event belongs to ("" for ping and other events).
    """

    run: bool
    reason: str
    ref: str = ""
    stages: list[str] = field(default_factory=list)
    trigger_kind: str = ""


def match(event: ScmEvent, scm_trigger: ScmTrigger | None) -> Match:
    """Whether `event` starts a run of a pipeline with this `autoTrigger.scmTrigger`."""
    if event.kind == "ping":
        return Match(False, "ping")
    trigger_kind = TRIGGER_OF_KIND.get(event.kind)
    if trigger_kind is None:
        return Match(False, _ignored(event))
    decided = _check(event, trigger_kind, scm_trigger or {})
    if decided is None:
        return Match(False, f"no {trigger_kind} trigger", trigger_kind=trigger_kind)
    (run, reason, ref), trigger = decided
    if not run:
        return Match(False, reason, trigger_kind=trigger_kind)
    stages = [str(s) for s in trigger.get("stages") or []]
    return Match(True, reason, ref, stages, trigger_kind)


def branch_matches(branch: str, patterns: Sequence[str] | None) -> bool:
    """Whether a branch name matches a push trigger's `branches` (none given: every branch)."""
    wanted = _strings(patterns)
    if not wanted:
        return True
    return any(branch == p or fnmatchcase(branch, p) for p in wanted)


# Each check answers (run, reason, ref to check out).
_Check = tuple[bool, str, str]


def _check(
    event: ScmEvent, trigger_kind: str, scm: ScmTrigger
) -> tuple[_Check, StagesTrigger] | None:
    """The check of the pipeline's trigger of `trigger_kind`, and that trigger; None when the
    pipeline has no such trigger."""
    if trigger_kind == PUSH:
        push = scm.get("push")
        return (_push(event, push), push) if isinstance(push, Mapping) else None
    if trigger_kind == PULL_REQUEST_COMMENT:
        comment = scm.get("pullRequestComment")
        return (_comment(event, comment), comment) if isinstance(comment, Mapping) else None
    if trigger_kind == TAG_RELEASE:
        tag = scm.get("tagRelease")
        return (_tag(event, tag), tag) if isinstance(tag, Mapping) else None
    pull = scm.get("pullRequest")
    return (_pull_request(event, pull), pull) if isinstance(pull, Mapping) else None


def _push(event: ScmEvent, trigger: PushTrigger) -> _Check:
    branch = event.branch or ""
    wanted = _strings(trigger.get("branches"))
    if not branch_matches(branch, wanted):
        return False, f"branch {_q(branch)} matches none of {_list(wanted)}", ""
    which = f"matches {_list(wanted)}" if wanted else "(every branch)"
    return True, f"push to branch {_q(branch)} {which}", event.commit or f"refs/heads/{branch}"


def _tag(event: ScmEvent, trigger: StagesTrigger) -> _Check:
    if event.provider == "github" and event.event == "push":
        return False, f'tag {_q(event.tag)} pushed: its "create" event starts the run', ""
    if event.provider == "github" and event.event == "release":
        if event.action != "published":
            return False, f"release action {_q(event.action)} does not start runs", ""
        return True, f"release of tag {_q(event.tag)} published", f"refs/tags/{event.tag}"
    return True, f"tag {_q(event.tag)} {event.action}", f"refs/tags/{event.tag}"


def _pull_request(event: ScmEvent, trigger: StagesTrigger) -> _Check:
    word, action = event.pr_word, event.action
    if event.provider == "gitlab" and action == "update":
        if event.before is None:
            return False, f"{word} update without new commits does not start runs", ""
    elif action not in PR_ACTIONS[event.provider]:
        return False, f"{word} action {_q(action)} does not start runs", ""
    ref = (event.head_sha if event.provider == "github" else None) or event.ref or ""
    return True, f"{word} #{event.number} {action}", ref


def _comment(event: ScmEvent, trigger: CommentTrigger) -> _Check:
    word = event.pr_word
    if event.action != COMMENT_ACTIONS[event.provider]:
        return False, f"comment action {_q(event.action)} does not start runs", ""
    if event.pr_state not in (None, "open"):
        return False, f"comments on a {event.pr_state} {word} do not start runs", ""
    wanted = [c.strip() for c in _strings(trigger.get("comments")) if c.strip()]
    if not wanted:
        return False, f"the {PULL_REQUEST_COMMENT} trigger lists no comments", ""
    body = (event.comment or "").strip()
    if body not in wanted:
        return False, f"comment {_q(_short(body))} is not one of {_list(wanted)}", ""
    return True, f"comment {_q(body)} on {word} #{event.number}", event.ref or ""


def _ignored(event: ScmEvent) -> str:
    """Why an event of kind "other" starts nothing."""
    if event.action == "deleted" and event.ref:
        return f"{event.ref} was deleted; deletions do not start runs"
    if event.event == "issue_comment":
        return f"issue #{event.number} is not a pull request"
    if event.event == "Note Hook":
        return "the comment is not on a merge request"
    if event.event == "create" and event.branch:
        return f"branch {_q(event.branch)} created; its push event starts runs"
    if event.ref:
        return f"{event.ref} is neither a branch nor a tag"
    return f"{_q(event.event)} events do not start runs"


def _q(text: str | None) -> str:
    """A value quoted as JSON, so empty and odd values stay visible in reasons."""
    return json.dumps(text, ensure_ascii=False)


def _list(items: list[str]) -> str:
    return json.dumps(items, ensure_ascii=False)


def _strings(value: object) -> list[str]:
    """The non-empty strings of a list from the pipeline document (anything else: none)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, str) and v]


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
