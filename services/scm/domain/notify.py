"""What happens after a record ends: who is told, what they get, and how often we retry.

Pure rules (no nameko, no pymongo, no I/O): `plan()` turns a finished record into the
deliveries the scm service keeps in its outbox (notifications, commit statuses, a tag);
`outcome_of_http()` and `retry_delay()` decide what a failed attempt leads to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

from shared.contracts import stages

SUCCESS: Final = "Success"
FAILED: Final = "Failed"
ABORTED: Final = "Aborted"

POLICIES: Final = ("Always", "Success", "Failure")
Kind = Literal["webhook", "slack", "email", "status", "tag"]
NOTIFY_KINDS: Final = ("webhook", "slack", "email")
Outcome = Literal["done", "retry", "give_up"]

STAGE_ORDER: Final = stages.STAGES  # payloads list stages in the order they run


@dataclass(frozen=True)
class Delivery:
    """One thing to send for one record; `key` is unique within the record, so a redelivered
    event plans the same keys and the outbox keeps one of each."""

    key: str
    kind: Kind
    target: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


def wanted(policy: str | None, status: str) -> bool:
    """Whether a record that ended with `status` is announced under `policy`.

    `Failure` means any end but Success (Failed, and Aborted: a timed-out run is one);
    a missing policy means `Always`, like the spec's example.
    """
    policy = policy or "Always"
    if policy == "Success":
        return status == SUCCESS
    if policy == "Failure":
        return status != SUCCESS
    return True


def record_link(public_url: str, project: str, pipeline: str, record_id: str) -> str:
    """The record's page in the web UI (what statuses and notifications point to)."""
    base = public_url.rstrip("/")
    return f"{base}/ui/projects/{quote(project)}/pipelines/{quote(pipeline)}/records/{record_id}"


def commit_of(record: Mapping[str, Any]) -> str:
    """The commit the run checked out (empty when checkout did not get that far)."""
    checkout = (record.get("stageStatus") or {}).get("codeCheckout") or {}
    main = (checkout.get("commits") or {}).get("mainRepo") or {}
    return str(main.get("ID") or "")


def summary(finished: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """The JSON a webhook receiver gets: the record, its pipeline and project, a link."""
    record = finished["record"]
    project, pipeline = finished["project"], finished["pipeline"]
    by_stage = record.get("stageStatus") or {}
    out: dict[str, Any] = {
        "event": "record_finished",
        "record": {
            "id": record["id"],
            "name": record.get("name", ""),
            "status": record["status"],
            "trigger": record.get("trigger", ""),
            "ref": (record.get("performParams") or {}).get("ref", ""),
            "commit": commit_of(record),
            "startTime": record.get("startTime"),
            "endTime": record.get("endTime"),
            "errorMessage": record.get("errorMessage", ""),
            "stages": [
                {
                    "name": name,
                    "status": by_stage[name].get("status", ""),
                    **({"error": by_stage[name]["error"]} if by_stage[name].get("error") else {}),
                }
                for name in sorted(by_stage, key=_stage_rank)
            ],
        },
        "pipeline": {"id": pipeline.get("id", ""), "name": pipeline.get("name", "")},
        "project": {"id": project.get("id", ""), "name": project.get("name", "")},
        "link": record_link(public_url, project["name"], pipeline["name"], record["id"]),
    }
    if record.get("owner"):
        out["record"]["owner"] = record["owner"]
    return out


def _stage_rank(name: str) -> int:
    return STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER)


def headline(body: Mapping[str, Any]) -> str:
    """`demo/build record abc1234-250101120000: Failed` (mail subjects, Slack text)."""
    rec = body["record"]
    return (
        f"{body['project']['name']}/{body['pipeline']['name']} record "
        f"{rec['name'] or rec['id']}: {rec['status']}"
    )


def mail_text(body: Mapping[str, Any]) -> str:
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
        why = f" ({stage['error']})" if stage.get("error") else ""
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


def slack_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message."""
    text = headline(body) + f"\n<{body['link']}|record details>"
    if body["record"]["errorMessage"]:
        text += f"\n{body['record']['errorMessage']}"
    return {"text": text}


# --- back to the SCM ------------------------------------------------------------------------

# Cyclone's status words (services/scm/providers/base.State); adapters map them to the
# SCM's own (GitHub: canceled -> error).
STATUS_STATES: Final = {SUCCESS: "success", FAILED: "failure", ABORTED: "canceled"}
STATUS_WORDS: Final = {
    "pending": "is queued",
    "running": "is running",
    "success": "succeeded",
    "failure": "failed",
    "canceled": "was aborted",
}


def scm_repo(project: Mapping[str, Any], pipeline: Mapping[str, Any]) -> tuple[str, str] | None:
    """(provider, repo) for statuses and tags: the project's SCM type, when it is GitHub or
    GitLab, and the repository of the pipeline's main code source.

    The repository is the URL path below the SCM server (`group/sub/name` on GitLab), or
    its last two segments for a URL on another host (a mirror, a local clone); `.git` is
    dropped. None when the pipeline's main repository is not a GitHub/GitLab source.
    """
    scm_type = str((project.get("scm") or {}).get("type") or "")
    provider = {"Github": "github", "Gitlab": "gitlab"}.get(scm_type)
    main = (((pipeline.get("build") or {}).get("stages") or {}).get("codeCheckout") or {}).get(
        "mainRepo"
    ) or {}
    block = main.get(provider or "") if provider else None
    if provider is None or str(main.get("type", "")).lower() != provider or not block:
        return None
    url = str(block.get("url") or "")
    repo = repo_path(url, str((project.get("scm") or {}).get("server") or ""))
    return (provider, repo) if repo else None


def repo_path(url: str, server: str) -> str:
    """`owner/name` of a repository URL (see `scm_repo`)."""
    parts = urlsplit(url)
    path = parts.path
    if parts.scheme == "" and ":" in url and "@" in url.split(":", 1)[0]:  # git@host:o/n.git
        path = url.split(":", 1)[1]
    path = re.sub(r"\.git$", "", path.strip("/"))
    if server:
        base = urlsplit(server)
        prefix = base.path.strip("/")
        # Same host, any port: the gateway's rule for webhooks (services/api/domain/webhooks.py).
        if parts.hostname and parts.hostname == base.hostname:
            if prefix and path.startswith(prefix + "/"):
                path = path[len(prefix) + 1 :]
            return path
    segments = [s for s in path.split("/") if s]
    return "/".join(segments[-2:]) if len(segments) >= 2 else ""


def status_context(pipeline: str) -> str:
    """One context per pipeline, so two pipelines on one repository keep their own status."""
    return f"continuous-integration/cyclone/{pipeline}"


def status_delivery(
    state: str, sha: str, provider: str, repo: str, pipeline: str, link: str
) -> Delivery:
    """A commit status to set (`state`: pending, success, failure, canceled)."""
    return Delivery(
        key=f"status:{state}",
        kind="status",
        target={"provider": provider, "repo": repo, "sha": sha},
        body={
            "state": state,
            "target_url": link,
            "description": f"Cyclone pipeline {pipeline} {STATUS_WORDS[state]}",
            "context": status_context(pipeline),
        },
    )


# --- the plan for one finished record -------------------------------------------------------


def plan(
    finished: Mapping[str, Any], public_url: str, pending_sha: str | None = None
) -> list[Delivery]:
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
    notification = pipeline.get("notification") or {}
    if wanted(notification.get("policy"), status):
        for i, receiver in enumerate(notification.get("receivers") or []):
            kind = receiver.get("type")
            addresses = [a for a in receiver.get("addresses") or [] if a]
            if kind == "email" and addresses:
                out.append(Delivery(f"email:{i}", "email", {"to": addresses}, body))
            elif kind in ("webhook", "slack"):
                payload = slack_body(body) if kind == "slack" else body
                # `url` is sealed as the gateway stored it; the sender opens it (senders.py).
                out += [
                    Delivery(f"{kind}:{i}:{j}", kind, {"url": url}, payload)
                    for j, url in enumerate(addresses)
                ]
    where = scm_repo(finished["project"], pipeline)
    commit = commit_of(record) or (pending_sha or "")
    if where and commit and record.get("trigger") == "scmTrigger":
        state = STATUS_STATES.get(status, "failure")
        out.append(status_delivery(state, commit, *where, pipeline["name"], body["link"]))
    params = record.get("performParams") or {}
    if params.get("createScmTag") and status == SUCCESS:
        out.append(tag_delivery(finished, commit, where, body["link"]))
    return out


def tag_delivery(
    finished: Mapping[str, Any], commit: str, where: tuple[str, str] | None, link: str
) -> Delivery:
    """The tag a successful run asked for; `target.unsupported` says why it cannot be made."""
    record, project, pipeline = finished["record"], finished["project"], finished["pipeline"]
    name = record.get("name") or ""
    target: dict[str, Any] = {"name": name, "sha": commit}
    scm_type = str((project.get("scm") or {}).get("type") or "")
    main = (((pipeline.get("build") or {}).get("stages") or {}).get("codeCheckout") or {}).get(
        "mainRepo"
    ) or {}
    if str(main.get("type", "")).lower() == "svn" and scm_type == "SVN":
        svn = main.get("svn") or {}
        scm = project.get("scm") or {}
        account = svn if svn.get("username") else scm  # the code source's, else the project's
        target.update(
            provider="svn",
            url=svn.get("url", ""),
            revision=commit,
            credentials={
                "username": account.get("username", ""),
                "password": account.get("password", ""),  # sealed until sent
            },
        )
    elif where:
        target.update(provider=where[0], repo=where[1])
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
    return Delivery("tag", "tag", target, {"message": message})


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
    return min(cap, base * 2 ** (attempts - 1))
