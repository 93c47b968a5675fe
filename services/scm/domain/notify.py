"""What happens after a record ends: who is told, what they get, and how often we retry.

Pure rules (no nameko, no pymongo, no I/O): `plan()` turns a finished record into the
deliveries the scm service keeps in its outbox (notifications, commit statuses, a tag);
`outcome_of_http()` and `retry_delay()` decide what a failed attempt leads to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NotRequired
from urllib.parse import quote, urlsplit

from typing_extensions import TypedDict

from shared.contracts import stages
from shared.contracts.catalog import (
    NOTIFICATION_POLICIES,
    Pipeline,
    Project,
    RepoSource,
    ScmSection,
    main_repo,
)
from shared.contracts.records import RecordStatus, RecordView
from shared.repos import reported_repo

ALWAYS, ON_SUCCESS, ON_FAILURE = NOTIFICATION_POLICIES
Kind = Literal["webhook", "slack", "email", "status", "tag"]
NOTIFY_KINDS: Final = ("webhook", "slack", "email")
Outcome = Literal["done", "retry", "give_up"]
# A commit status as Cyclone means it; adapters map to their SCM's words (GitHub has no
# `running` nor `canceled`: pending and error).
CommitState = Literal["pending", "running", "success", "failure", "canceled"]

STAGE_ORDER: Final = stages.STAGES  # payloads list stages in the order they run


class Finished(TypedDict):
    """What a plan is made from: a RecordFinished event's record and snapshots
    (shared/contracts/events.RecordFinished, once they are known to be there)."""

    record: RecordView
    project: Project
    pipeline: Pipeline


# --- what the outbox keeps: where each delivery goes, and what it sends -----------------------


class SvnAccount(TypedDict):
    username: str
    password: str  # sealed until sent


class Target(TypedDict, total=False):
    """Where one delivery goes; which keys depend on its kind."""

    to: list[str]  # email: the addresses
    url: str  # webhook, slack: the receiver (sealed); svn tag: the repository URL
    provider: str  # status, tag: "github" | "gitlab" | "svn"
    repo: str  # status, tag: the repository path on the SCM
    sha: str  # status, tag: the commit
    scm: ScmSection  # status, GitHub/GitLab tag: the project's account (sealed)
    name: str  # tag: the record name
    revision: str  # svn tag
    credentials: SvnAccount  # svn tag
    unsupported: str  # tag: why it cannot be made (then it is skipped)


class StageLine(TypedDict):
    name: str
    status: str
    error: NotRequired[str]


class RecordSummary(TypedDict):
    id: str
    name: str
    status: str
    trigger: str
    ref: str
    commit: str
    startTime: str | None
    endTime: str | None
    errorMessage: str
    stages: list[StageLine]
    owner: NotRequired[str]


class Named(TypedDict):
    id: str
    name: str


class Summary(TypedDict):
    """The JSON a webhook receiver gets (and what mails and Slack messages are made from)."""

    event: str
    record: RecordSummary
    pipeline: Named
    project: Named
    link: str


class SlackMessage(TypedDict):
    text: str


class StatusBody(TypedDict):
    state: CommitState
    target_url: str
    description: str
    context: str


class TagBody(TypedDict):
    message: str


# What a delivery sends; which one follows from its kind (webhook and email: a Summary).
Body = Summary | SlackMessage | StatusBody | TagBody


@dataclass(frozen=True)
class Delivery:
    """One thing to send for one record; `key` is unique within the record, so a redelivered
    event plans the same keys and the outbox keeps one of each."""

    key: str
    kind: Kind
    target: Target
    body: Body


def wanted(policy: str | None, status: str) -> bool:
    """Whether a record that ended with `status` is announced under `policy`.

    `Failure` means any end but Success (Failed, and Aborted: a timed-out run is one);
    a missing policy means `Always`, like the spec's example.
    """
    policy = policy or ALWAYS
    if policy == ON_SUCCESS:
        return status == RecordStatus.SUCCESS
    if policy == ON_FAILURE:
        return status != RecordStatus.SUCCESS
    return True


def record_link(public_url: str, project: str, pipeline: str, record_id: str) -> str:
    """The record's page in the web UI (what statuses and notifications point to)."""
    base = public_url.rstrip("/")
    return f"{base}/ui/projects/{quote(project)}/pipelines/{quote(pipeline)}/records/{record_id}"


def commit_of(record: RecordView) -> str:
    """The commit the run checked out (empty when checkout did not get that far)."""
    checkout = record.get("stageStatus", {}).get("codeCheckout", {})
    return checkout.get("commits", {}).get("mainRepo", {}).get("ID") or ""


def summary(finished: Finished, public_url: str) -> Summary:
    """The JSON a webhook receiver gets: the record, its pipeline and project, a link."""
    record = finished["record"]
    project, pipeline = finished["project"], finished["pipeline"]
    by_stage = record.get("stageStatus", {})
    stages: list[StageLine] = []
    for name in sorted(by_stage, key=_stage_rank):
        line = StageLine(name=name, status=by_stage[name].get("status", ""))
        error = by_stage[name].get("error")
        if error:
            line["error"] = error
        stages.append(line)
    rec = RecordSummary(
        id=record["id"],
        name=record.get("name", ""),
        status=record["status"],
        trigger=record.get("trigger", ""),
        ref=record.get("performParams", {}).get("ref", ""),
        commit=commit_of(record),
        startTime=record.get("startTime"),
        endTime=record.get("endTime"),
        errorMessage=record.get("errorMessage", ""),
        stages=stages,
    )
    owner = record.get("owner")
    if owner:
        rec["owner"] = owner
    return Summary(
        event="record_finished",
        record=rec,
        pipeline=Named(id=pipeline.get("id", ""), name=pipeline.get("name", "")),
        project=Named(id=project.get("id", ""), name=project.get("name", "")),
        link=record_link(public_url, project["name"], pipeline["name"], record["id"]),
    )


def _stage_rank(name: str) -> int:
    return STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER)


def headline(body: Summary) -> str:
    """`demo/build record abc1234-250101120000: Failed` (mail subjects, Slack text)."""
    rec = body["record"]
    return (
        f"{body['project']['name']}/{body['pipeline']['name']} record "
        f"{rec['name'] or rec['id']}: {rec['status']}"
    )


def mail_text(body: Summary) -> str:
    """The plain-text mail for one finished record."""
    rec = body["record"]
    lines = [
        headline(body),
        "",
        f"Status:   {rec['status']}",
        f"Trigger:  {rec['trigger']}",
        f"Ref:      {rec['ref'] or '(default)'}",
    ]
    if rec["commit"]:
        lines.append(f"Commit:   {rec['commit']}")
    lines += [f"Started:  {rec['startTime']}", f"Ended:    {rec['endTime']}"]
    if rec["errorMessage"]:
        lines.append(f"Error:    {rec['errorMessage']}")
    lines += ["", "Stages:"]
    for stage in rec["stages"]:
        error = stage.get("error")
        why = f" ({error})" if error else ""
        lines.append(f"  {stage['name']}: {stage['status']}{why}")
    lines += ["", f"Details: {body['link']}", ""]
    return "\n".join(lines)


def redacted_url(url: str) -> str:
    """A receiver URL as notes and logs may show it: scheme and host, never the path, query or
    user info (`https://hooks.slack.com/******`): Slack incoming-webhook URLs, and many webhook
    URLs, are credentials in all but name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "******"
    if not parts.scheme or not host:
        return "******"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/******"


def scrubbed(text: str, url: str) -> str:
    """`text` (an error message) with the URL, or the secret part of it, replaced."""
    if not url:
        return text
    text = text.replace(url, redacted_url(url))
    parts = urlsplit(url)
    for secret in (parts.path, parts.query, parts.username or "", parts.password or ""):
        if len(secret) > 1:
            text = text.replace(secret, "******")
    return text


def slack_body(body: Summary) -> SlackMessage:
    """A Slack incoming-webhook message."""
    text = headline(body) + f"\n<{body['link']}|record details>"
    if body["record"]["errorMessage"]:
        text += f"\n{body['record']['errorMessage']}"
    return SlackMessage(text=text)


# --- back to the SCM ------------------------------------------------------------------------

# Cyclone's status words (CommitState); adapters map them to the SCM's own (GitHub:
# canceled -> error).
STATUS_STATES: Final[dict[str, CommitState]] = {
    RecordStatus.SUCCESS: "success",
    RecordStatus.FAILED: "failure",
    RecordStatus.ABORTED: "canceled",
}
STATUS_WORDS: Final[dict[CommitState, str]] = {
    "pending": "is queued",
    "running": "is running",
    "success": "succeeded",
    "failure": "failed",
    "canceled": "was aborted",
}


def scm_repo(project: Project, pipeline: Pipeline) -> tuple[str, str] | None:
    """(provider, repo) for statuses and tags: the project's SCM type, when it is GitHub or
    GitLab, and the repository of the pipeline's main code source.

    The repository is the URL path below the SCM server (`group/sub/name` on GitLab), or
    its last two segments for a URL on another host (a mirror, a local clone); `.git` is
    dropped. None when the pipeline's main repository is not a GitHub/GitLab source.
    """
    scm = project.get("scm", {})
    provider = {"Github": "github", "Gitlab": "gitlab"}.get(scm.get("type", ""))
    main = main_repo(pipeline)
    if provider is None or main.get("type", "").lower() != provider:
        return None
    block = main.get("github") if provider == "github" else main.get("gitlab")
    if not block:
        return None
    repo = reported_repo(scm.get("server", ""), block.get("url", ""))
    return (provider, repo) if repo else None


def status_context(pipeline: str) -> str:
    """One context per pipeline, so two pipelines on one repository keep their own status."""
    return f"continuous-integration/cyclone/{pipeline}"


def status_delivery(
    state: CommitState, sha: str, provider: str, repo: str, pipeline: str, link: str
) -> Delivery:
    """A commit status to set (`state`: pending, success, failure, canceled)."""
    return Delivery(
        key=f"status:{state}",
        kind="status",
        target=Target(provider=provider, repo=repo, sha=sha),
        body=StatusBody(
            state=state,
            target_url=link,
            description=f"Cyclone pipeline {pipeline} {STATUS_WORDS[state]}",
            context=status_context(pipeline),
        ),
    )


# --- the plan for one finished record -------------------------------------------------------


def plan(finished: Finished, public_url: str, pending_sha: str | None = None) -> list[Delivery]:
    """Everything to send for a finished record (RecordFinished with its snapshots).

    - notifications per the pipeline's `notification` policy: one webhook POST per webhook
      or Slack address, one mail per email receiver;
    - a final commit status for runs an SCM webhook started (`trigger: scmTrigger` on a
      GitHub/GitLab project), on the commit the run checked out, or else the one the
      pending status went to (`pending_sha`);
    - a tag named after the record when `createScmTag` was asked and the run succeeded.
    """
    record, pipeline = finished["record"], finished["pipeline"]
    status = record["status"]
    body = summary(finished, public_url)
    out: list[Delivery] = []
    notification = pipeline.get("notification", {})
    if wanted(notification.get("policy"), status):
        for i, receiver in enumerate(notification.get("receivers", [])):
            kind = receiver.get("type")
            addresses = [a for a in receiver.get("addresses") or [] if a]
            if kind == "email" and addresses:
                out.append(Delivery(f"email:{i}", "email", Target(to=addresses), body))
            elif kind == "webhook" or kind == "slack":
                post: Kind = "slack" if kind == "slack" else "webhook"
                payload: Body = slack_body(body) if post == "slack" else body
                # `url` is sealed as the gateway stored it; the sender opens it (senders.py).
                out += [
                    Delivery(f"{post}:{i}:{j}", post, Target(url=url), payload)
                    for j, url in enumerate(addresses)
                ]
    where = scm_repo(finished["project"], pipeline)
    commit = commit_of(record) or (pending_sha or "")
    if where and commit and record.get("trigger") == "scmTrigger":
        state = STATUS_STATES.get(status, "failure")
        out.append(status_delivery(state, commit, *where, pipeline["name"], body["link"]))
    if record.get("performParams", {}).get("createScmTag") and status == RecordStatus.SUCCESS:
        out.append(tag_delivery(finished, commit, where, body["link"]))
    return out


def tag_delivery(
    finished: Finished, commit: str, where: tuple[str, str] | None, link: str
) -> Delivery:
    """The tag a successful run asked for; `target.unsupported` says why it cannot be made."""
    record, project, pipeline = finished["record"], finished["project"], finished["pipeline"]
    name = record.get("name") or ""
    target = Target(name=name, sha=commit)
    scm = project.get("scm", {})
    scm_type = scm.get("type") or ""
    main = main_repo(pipeline)
    if main.get("type", "").lower() == "svn" and scm_type == "SVN":
        svn = main.get("svn", {})
        # the code source's account, else the project's
        account: RepoSource | ScmSection = svn if svn.get("username") else scm
        target["provider"] = "svn"
        target["url"] = svn.get("url", "")
        target["revision"] = commit
        target["credentials"] = SvnAccount(
            username=account.get("username", ""),
            password=account.get("password", ""),  # sealed until sent
        )
    elif where:
        target["provider"], target["repo"] = where
    else:
        target["unsupported"] = (
            "createScmTag needs a GitHub, GitLab or SVN main repository on a project of the "
            f"same SCM type (project SCM {scm_type or 'none'}, main repository "
            f"{main.get('type') or 'none'})"
        )
    if not name:
        target["unsupported"] = "the record has no name to tag with"
    elif not commit:
        target["unsupported"] = "the run did not check out a commit to tag"
    message = f"Cyclone record {name} of {project.get('name')}/{pipeline.get('name')}: {link}"
    return Delivery("tag", "tag", target, TagBody(message=message))


# --- retries --------------------------------------------------------------------------------


def outcome_of_http(status: int) -> Outcome:
    """2xx is delivered; 408, 429 and 5xx may pass later; any other answer never will."""
    if 200 <= status < 300:
        return "done"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "give_up"


def retry_delay(attempts: int, max_attempts: int, base: float, cap: float = 300) -> float | None:
    """Seconds to wait after the `attempts`-th failed try (1-based), doubling from `base`;
    None when the tries are used up."""
    if attempts >= max_attempts:
        return None
    return min(cap, base * float(2 ** (attempts - 1)))
