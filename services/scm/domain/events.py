"""What a webhook delivery is about: one small, provider-neutral `ScmEvent` per delivery.

Parsing is separate from trigger matching (triggers.py) so that logs and duplicate detection
can describe a delivery even when no pipeline trigger wants it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

Provider = Literal["github", "gitlab"]
Kind = Literal["push", "tag", "pull_request", "comment", "ping", "other"]

PROVIDERS: tuple[str, ...] = ("github", "gitlab")
EVENT_HEADERS = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
# Where the delivery id is, first found wins (GitLab sends both; older versions only the UUID).
DELIVERY_HEADERS = {
    "github": ("X-GitHub-Delivery",),
    "gitlab": ("X-Gitlab-Event-UUID", "Idempotency-Key"),
}

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1, or SHA-256 object format
_ZERO = re.compile(r"0+")


class BadPayload(ValueError):
    """A delivery that cannot be understood: the caller answers 400 and starts nothing."""


@dataclass(frozen=True)
class ScmEvent:
    """One webhook delivery, reduced to what run triggers and logs need.

    - `event`: the event header value (`push`, `Merge Request Hook`, ...), spelled as in
      the provider's documentation when it is one this module reads.
    - `ref`: the full ref the event is about: `refs/heads/x`, `refs/tags/v1`, or for pull
      requests `refs/pull/N/head` (GitHub) / `refs/merge-requests/N/head` (GitLab).
    - `branch`: the pushed branch; for pull requests and their comments, the target branch.
    - `commit`: the commit the event names (pushed head, tag commit, PR head), if known.
    - `before`: the previous head when the event moved one (push, new PR commits).
    - `pr_state`: "open", "closed" or "merged" for pull requests and their comments.
    - `repo`: the repository the delivery is about (GitHub `owner/name`, GitLab
      `group/sub/name`), when the payload names it.
    - `head_repo`, `from_fork`: for pull requests and their comments, the repository the
      changes come from, and whether it is another one than `repo` (None: the payload does
      not tell, as in GitHub comments; services/scm/domain/trust.py).
    - `author`, `author_id`, `author_association`: who wrote a comment (login, GitLab user
      id, GitHub `author_association`); `project_id`: GitLab's id of `repo`.
    """

    provider: Provider
    event: str
    kind: Kind
    action: str | None = None
    ref: str | None = None
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    before: str | None = None
    number: int | None = None
    head_sha: str | None = None
    head_ref: str | None = None
    comment: str | None = None
    pr_state: str | None = None
    delivery_id: str | None = None
    repo: str | None = None
    head_repo: str | None = None
    from_fork: bool | None = None
    author: str | None = None
    author_id: int | None = None
    author_association: str | None = None
    project_id: int | None = None

    def describe(self) -> str:
        """One line for logs and API messages, e.g. `GitHub push to main at 6113728`."""
        text = self.summary()
        return text + (f" [delivery {self.delivery_id}]" if self.delivery_id else "")

    def summary(self) -> str:
        """`describe()` without the delivery id."""
        who = "GitHub" if self.provider == "github" else "GitLab"
        pr = self.pr_word
        at = f" at {self.commit[:7]}" if self.commit else ""
        if self.kind == "push":
            return f"{who} push to {self.branch}{at}"
        if self.kind == "tag":
            source = "release" if self.event == "release" else "tag"
            return f"{who} {source} {self.tag} {self.action}{at}"
        if self.kind == "pull_request":
            flow = f" ({self.head_ref or '?'} → {self.branch or '?'})"
            return f"{who} {pr} #{self.number} {self.action}{flow}{at}"
        if self.kind == "comment":
            return f'{who} comment on {pr} #{self.number} {self.action}: "{_short(self.comment)}"'
        if self.kind == "ping":
            return f"{who} ping"
        if self.action == "deleted" and self.ref:
            return f"{who} {self.ref} deleted"
        if self.event == "issue_comment":
            return f"{who} comment on issue #{self.number}, which is not a {pr}"
        if self.event == "Note Hook":
            return f"{who} comment that is not on a {pr}"
        if self.event == "create" and self.branch:
            return f"{who} branch {self.branch} created"
        if self.ref:
            return f"{who} {self.event} of {self.ref}"
        return f'{who} "{self.event}" event' + (f" ({self.action})" if self.action else "")

    @property
    def pr_word(self) -> str:
        """What the provider calls a pull request."""
        return "pull request" if self.provider == "github" else "merge request"


class _Base(TypedDict):
    """What every event of a delivery has, whatever its kind."""

    provider: Provider
    event: str
    delivery_id: str | None


def parse(provider: str, event: str | None, delivery_id: str | None, payload: object) -> ScmEvent:
    """The `ScmEvent` of one delivery.

    `event` is the `X-GitHub-Event` or `X-Gitlab-Event` header value, `delivery_id` the
    `X-GitHub-Delivery` or `X-Gitlab-Event-UUID` (or `Idempotency-Key`) value, `payload`
    the decoded JSON body. Events a CI trigger has no use for come back as kind "other";
    payloads missing what their kind needs raise `BadPayload`.
    """
    if provider not in PROVIDERS:
        raise BadPayload(f'unknown SCM provider "{provider}" (expected github or gitlab)')
    header = EVENT_HEADERS[provider]
    if not isinstance(event, str) or not event.strip():
        raise BadPayload(f"missing {header} header")
    if not isinstance(payload, Mapping):
        raise BadPayload(f"{header} {event.strip()}: the body is not a JSON object")
    handlers = _GITHUB if provider == "github" else _GITLAB
    name = _CANONICAL.get(event.strip().lower(), event.strip())
    delivery = delivery_id.strip() if isinstance(delivery_id, str) else ""
    base = _Base(
        provider="github" if provider == "github" else "gitlab",
        event=name,
        delivery_id=delivery or None,
    )
    handler = handlers.get(name)
    if handler is None:
        action = payload.get("action")
        return ScmEvent(**base, kind="other", action=action if isinstance(action, str) else None)
    return handler(_Payload(payload, f"{header} {name}"), base)


# --- payload access with clear errors -------------------------------------------------------


class _Payload:
    """Reads nested payload fields; a missing or mistyped required one is a `BadPayload`."""

    def __init__(self, data: Mapping[str, object], what: str, path: str = "") -> None:
        self.data = data
        self.what = what
        self.path = path

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def obj(self, key: str) -> _Payload:
        value = self.data.get(key)
        if not isinstance(value, Mapping):
            raise BadPayload(f"{self.what} payload has no {self._where(key)} object")
        return _Payload(value, self.what, self._where(key))

    def opt_obj(self, key: str) -> _Payload | None:
        value = self.data.get(key)
        return _Payload(value, self.what, self._where(key)) if isinstance(value, Mapping) else None

    def text(self, key: str, empty_ok: bool = False) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or (not value and not empty_ok):
            raise BadPayload(f"{self.what} payload has no {self._where(key)} string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.data.get(key)
        return value if isinstance(value, str) and value else None

    def number(self, key: str) -> int:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise BadPayload(f"{self.what} payload has no {self._where(key)} number")
        return value

    def opt_number(self, key: str) -> int | None:
        value = self.data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return None
        return value

    def sha(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not _SHA.fullmatch(value.lower()):
            raise BadPayload(f"{self.what} payload has no commit sha in {self._where(key)}")
        return value.lower()

    def opt_sha(self, key: str) -> str | None:
        """A commit sha, or None when absent, null or all zeros (nothing there)."""
        value = self.data.get(key)
        if value is None or (isinstance(value, str) and _ZERO.fullmatch(value)):
            return None
        return self.sha(key)


def _short(text: str | None, limit: int = 40) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _split_ref(ref: str) -> tuple[str | None, str | None]:
    """(branch, tag) named by a full ref; both None for other refs."""
    if ref.startswith("refs/heads/") and len(ref) > len("refs/heads/"):
        return ref.removeprefix("refs/heads/"), None
    if ref.startswith("refs/tags/") and len(ref) > len("refs/tags/"):
        return None, ref.removeprefix("refs/tags/")
    return None, None


def _is_zero(value: object) -> bool:
    return isinstance(value, str) and bool(_ZERO.fullmatch(value))


# --- GitHub ---------------------------------------------------------------------------------


def _github_push(p: _Payload, base: _Base) -> ScmEvent:
    """A push to a branch (kind push) or a tag (kind tag, action "pushed").

    Deleting a branch or tag is also a push (`deleted: true`, `after` all zeros); it is
    kind "other" with action "deleted" so that it never starts a run.
    """
    ref = p.text("ref")
    branch, tag = _split_ref(ref)
    before = p.opt_sha("before")
    if p.data.get("deleted") is True or _is_zero(p.data.get("after")):
        return ScmEvent(
            **base, kind="other", action="deleted", ref=ref, branch=branch, tag=tag, before=before
        )
    after = p.sha("after")
    if branch:
        return ScmEvent(
            **base,
            kind="push",
            action="pushed",
            ref=ref,
            branch=branch,
            commit=after,
            before=before,
        )
    if tag:
        return ScmEvent(**base, kind="tag", action="pushed", ref=ref, tag=tag, commit=after)
    return ScmEvent(**base, kind="other", action="pushed", ref=ref, commit=after, before=before)


def _github_create(p: _Payload, base: _Base) -> ScmEvent:
    """A tag or branch created. The payload names no commit, and `ref` is the short name."""
    name = p.text("ref")
    ref_type = p.text("ref_type")
    if ref_type == "tag":
        return ScmEvent(**base, kind="tag", action="created", ref=f"refs/tags/{name}", tag=name)
    if ref_type == "branch":
        return ScmEvent(
            **base, kind="other", action="created", ref=f"refs/heads/{name}", branch=name
        )
    return ScmEvent(**base, kind="other", action="created")


def _github_release(p: _Payload, base: _Base) -> ScmEvent:
    """Any release action; triggers.py decides which start runs (the original ran on all)."""
    action = p.text("action")
    tag = p.obj("release").text("tag_name")
    return ScmEvent(**base, kind="tag", action=action, ref=f"refs/tags/{tag}", tag=tag)


def _github_pull_request(p: _Payload, base: _Base) -> ScmEvent:
    pr = p.obj("pull_request")
    number = p.number("number") if "number" in p.data else pr.number("number")
    head = pr.obj("head")
    head_sha = head.sha("sha")
    state = pr.opt_text("state")
    if pr.data.get("merged") is True:
        state = "merged"
    before = p.opt_sha("before") if p.data.get("action") == "synchronize" else None
    base_part = pr.obj("base")
    base_repo, head_repo = base_part.opt_obj("repo"), head.opt_obj("repo")
    repo = _github_repo(p.opt_obj("repository")) or _github_repo(base_repo)
    return ScmEvent(
        **base,
        kind="pull_request",
        action=p.text("action"),
        ref=f"refs/pull/{number}/head",
        branch=base_part.opt_text("ref"),
        commit=head_sha,
        before=before,
        number=number,
        head_sha=head_sha,
        head_ref=head.opt_text("ref"),
        pr_state=state,
        repo=repo,
        head_repo=_github_repo(head_repo),
        from_fork=_github_fork(head_repo, base_repo),
        author=_login(p.opt_obj("sender")),
    )


def _github_repo(repo: _Payload | None) -> str | None:
    return repo.opt_text("full_name") if repo is not None else None


def _login(user: _Payload | None) -> str | None:
    return user.opt_text("login") if user is not None else None


def _github_fork(head: _Payload | None, base: _Payload | None) -> bool | None:
    """Whether a pull request's head repository is another one than its base repository.

    A head without a repository is a fork that was deleted since (GitHub sends `null`): a
    fork. Ids decide when both are there (names change on renames and transfers)."""
    if base is None:
        return None
    if head is None:
        return True
    head_id, base_id = head.opt_number("id"), base.opt_number("id")
    if head_id is not None and base_id is not None:
        return head_id != base_id
    head_name, base_name = _github_repo(head), _github_repo(base)
    if head_name is None or base_name is None:
        return None
    return head_name.lower() != base_name.lower()


def _github_issue_comment(p: _Payload, base: _Base) -> ScmEvent:
    """A comment on a pull request (kind comment) or on a plain issue (kind "other").

    GitHub sends pull request conversation comments as issue comments whose issue has a
    `pull_request` object. The payload names neither the head commit nor the branches.
    """
    action = p.text("action")
    issue = p.obj("issue")
    number = issue.number("number")
    if issue.opt_obj("pull_request") is None:
        return ScmEvent(**base, kind="other", action=action, number=number)
    comment = p.obj("comment")
    body = comment.text("body", empty_ok=True)
    association = comment.opt_text("author_association")
    return ScmEvent(
        **base,
        kind="comment",
        action=action,
        ref=f"refs/pull/{number}/head",
        number=number,
        comment=body,
        pr_state=issue.opt_text("state"),
        repo=_github_repo(p.opt_obj("repository")),
        author=_login(comment.opt_obj("user")) or _login(p.opt_obj("sender")),
        author_association=association.upper() if association else None,
    )


def _github_ping(p: _Payload, base: _Base) -> ScmEvent:
    return ScmEvent(**base, kind="ping")


_Handler = Callable[[_Payload, _Base], ScmEvent]
_GITHUB: dict[str, _Handler] = {
    "push": _github_push,
    "create": _github_create,
    "release": _github_release,
    "pull_request": _github_pull_request,
    "issue_comment": _github_issue_comment,
    "ping": _github_ping,
}


# --- GitLab ---------------------------------------------------------------------------------


def _gitlab_push(p: _Payload, base: _Base) -> ScmEvent:
    """A push to a branch; `after` all zeros deletes the branch (kind "other")."""
    ref = p.text("ref")
    branch, tag = _split_ref(ref)
    before = p.opt_sha("before")
    if _is_zero(p.data.get("after")):
        return ScmEvent(
            **base, kind="other", action="deleted", ref=ref, branch=branch, tag=tag, before=before
        )
    commit = p.opt_sha("checkout_sha") or p.sha("after")
    if branch is None:
        return ScmEvent(**base, kind="other", action="pushed", ref=ref, commit=commit)
    return ScmEvent(
        **base, kind="push", action="pushed", ref=ref, branch=branch, commit=commit, before=before
    )


def _gitlab_tag_push(p: _Payload, base: _Base) -> ScmEvent:
    """A tag pushed. `after` all zeros deletes the tag: kind "other", unlike the original
    which started a run for deletions too (original-server.md §14 item 22).

    `checkout_sha` is the tagged commit; `after` is the tag object for annotated tags.
    """
    ref = p.text("ref")
    _, tag = _split_ref(ref)
    if tag is None:
        raise BadPayload(f'{p.what} payload ref "{ref}" is not a refs/tags/ ref')
    if _is_zero(p.data.get("after")):
        return ScmEvent(**base, kind="other", action="deleted", ref=ref, tag=tag)
    commit = p.opt_sha("checkout_sha") or p.sha("after")
    return ScmEvent(**base, kind="tag", action="pushed", ref=ref, tag=tag, commit=commit)


_GITLAB_STATES = {"opened": "open", "reopened": "open", "closed": "closed", "merged": "merged"}


class _MrFields(TypedDict):
    """The fields merge request and note events share."""

    ref: str
    branch: str | None
    commit: str | None
    number: int
    head_sha: str | None
    head_ref: str | None
    pr_state: str | None
    repo: str | None
    head_repo: str | None
    from_fork: bool | None
    project_id: int | None


def _gitlab_mr_fields(mr: _Payload, p: _Payload) -> _MrFields:
    """The fields merge request and note events share (`mr` is the merge request's object,
    `p` the whole payload)."""
    iid = mr.number("iid")
    last = mr.opt_obj("last_commit")
    head_sha = last.opt_sha("id") if last else None
    state = mr.opt_text("state")
    source, target = mr.opt_number("source_project_id"), mr.opt_number("target_project_id")
    project = p.opt_obj("project")
    return _MrFields(
        ref=f"refs/merge-requests/{iid}/head",
        branch=mr.opt_text("target_branch"),
        commit=head_sha,
        number=iid,
        head_sha=head_sha,
        head_ref=mr.opt_text("source_branch"),
        pr_state=_GITLAB_STATES.get(state, state) if state else None,
        repo=_gitlab_path(project) or _gitlab_path(mr.opt_obj("target")),
        head_repo=_gitlab_path(mr.opt_obj("source")),
        from_fork=None if source is None or target is None else source != target,
        project_id=(project.opt_number("id") if project else None)
        or p.opt_number("project_id")
        or target,
    )


def _gitlab_path(project: _Payload | None) -> str | None:
    return project.opt_text("path_with_namespace") if project is not None else None


def _gitlab_merge_request(p: _Payload, base: _Base) -> ScmEvent:
    """`oldrev` (kept as `before`) is present only when an update brought new commits."""
    attrs = p.obj("object_attributes")
    return ScmEvent(
        **base,
        kind="pull_request",
        action=attrs.opt_text("action"),
        before=attrs.opt_sha("oldrev"),
        author=_username(p.opt_obj("user")),
        **_gitlab_mr_fields(attrs, p),
    )


def _username(user: _Payload | None) -> str | None:
    return user.opt_text("username") if user is not None else None


def _gitlab_note(p: _Payload, base: _Base) -> ScmEvent:
    """A comment on a merge request (kind comment); notes on issues, commits, snippets are
    kind "other". GitLab before 16.x sent no `action`: notes were only sent when created."""
    attrs = p.obj("object_attributes")
    noteable = attrs.opt_text("noteable_type")
    mr = p.opt_obj("merge_request")
    if noteable != "MergeRequest" or mr is None:
        return ScmEvent(**base, kind="other", action=attrs.opt_text("action") or "create")
    user = p.opt_obj("user")
    return ScmEvent(
        **base,
        kind="comment",
        action=attrs.opt_text("action") or "create",
        comment=attrs.text("note", empty_ok=True),
        author=_username(user),
        author_id=(user.opt_number("id") if user else None) or attrs.opt_number("author_id"),
        **_gitlab_mr_fields(mr, p),
    )


_GITLAB: dict[str, _Handler] = {
    "Push Hook": _gitlab_push,
    "Tag Push Hook": _gitlab_tag_push,
    "Merge Request Hook": _gitlab_merge_request,
    "Note Hook": _gitlab_note,
}
_CANONICAL = {name.lower(): name for name in [*_GITHUB, *_GITLAB]}
