"""After-run rules: policies, payloads, statuses, tags, retries (services/scm/domain/notify.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.scm.domain import notify
from shared.repos import reported_repo

SHA = "a" * 40
PUBLIC = "https://ci.example.com/"


def finished(
    status: str = "Success",
    *,
    policy: str | None = "Always",
    trigger: str = "user",
    scm_type: str = "Github",
    repo: dict[str, Any] | None = None,
    create_tag: bool = False,
    commit: str = SHA,
) -> dict[str, Any]:
    stage_status: dict[str, Any] = {
        "package": {"status": "Failed" if status == "Failed" else "Success", "error": "exit 2"},
        "codeCheckout": {"status": "Success"},
    }
    if commit:
        stage_status["codeCheckout"]["commits"] = {"mainRepo": {"ID": commit}}
    if status != "Failed":
        del stage_status["package"]["error"]
    receivers = [
        {"type": "webhook", "addresses": ["http://hooks.example.com/a", "https://b.example.com"]},
        {"type": "email", "addresses": ["dev@example.com", "ops@example.com"], "groups": ["g"]},
        {"type": "slack", "addresses": ["https://hooks.slack.com/services/T/B/X"]},
    ]
    main = repo or {"type": "Github", "github": {"url": "https://github.com/acme/widget.git"}}
    return {
        "record_id": "r1",
        "status": status,
        "record": {
            "id": "r1",
            "name": "aaaaaaa-250101120000",
            "status": status,
            "trigger": trigger,
            "owner": "alice",
            "performParams": {"ref": "main", "createScmTag": create_tag},
            "stageStatus": stage_status,
            "startTime": "2025-01-01T12:00:00.000Z",
            "endTime": "2025-01-01T12:01:00.000Z",
            **({"errorMessage": "package failed"} if status == "Failed" else {}),
        },
        "project": {
            "id": "p1",
            "name": "demo",
            "scm": {"type": scm_type, "server": "https://github.com", "token": "enc:v1:x"},
        },
        "pipeline": {
            "id": "q1",
            "name": "build",
            "build": {"stages": {"codeCheckout": {"mainRepo": main}}},
            **({"notification": {"policy": policy, "receivers": receivers}} if policy else {}),
        },
    }


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    [
        ("Always", "Success", True),
        ("Always", "Failed", True),
        ("Success", "Success", True),
        ("Success", "Failed", False),
        ("Failure", "Success", False),
        ("Failure", "Failed", True),
        ("Failure", "Aborted", True),
        (None, "Aborted", True),
    ],
)
def test_policy(policy, status, expected):
    assert notify.wanted(policy, status) is expected


def test_plan_sends_one_post_per_address_and_one_mail_per_receiver():
    plan = notify.plan(finished(), PUBLIC)
    assert [(d.key, d.kind) for d in plan] == [
        ("webhook:0:0", "webhook"),
        ("webhook:0:1", "webhook"),
        ("email:1", "email"),
        ("slack:2:0", "slack"),
    ]
    assert plan[2].target == {"to": ["dev@example.com", "ops@example.com"]}
    assert plan[3].body["text"].startswith("demo/build record aaaaaaa-250101120000: Success")


def test_failure_policy_plans_nothing_for_a_success():
    assert notify.plan(finished("Success", policy="Failure"), PUBLIC) == []
    assert len(notify.plan(finished("Failed", policy="Failure"), PUBLIC)) == 4


def test_webhook_body_names_record_pipeline_project_stages_and_link():
    body = notify.plan(finished("Failed"), PUBLIC)[0].body
    assert body["link"] == "https://ci.example.com/ui/projects/demo/pipelines/build/records/r1"
    rec = body["record"]
    assert rec["status"] == "Failed" and rec["errorMessage"] == "package failed"
    assert rec["commit"] == SHA and rec["ref"] == "main" and rec["owner"] == "alice"
    assert rec["stages"] == [
        {"name": "codeCheckout", "status": "Success"},
        {"name": "package", "status": "Failed", "error": "exit 2"},
    ]
    assert body["pipeline"] == {"id": "q1", "name": "build"}
    assert body["project"] == {"id": "p1", "name": "demo"}
    text = notify.mail_text(body)
    assert "Error:    package failed" in text and "package: Failed (exit 2)" in text


def test_final_status_only_for_scm_triggered_runs():
    assert [d for d in notify.plan(finished(policy=None), PUBLIC) if d.kind == "status"] == []
    plan = notify.plan(finished("Failed", policy=None, trigger="scmTrigger"), PUBLIC)
    (status,) = plan
    assert status.key == "status:failure"
    assert status.target == {"provider": "github", "repo": "acme/widget", "sha": SHA}
    assert status.body["state"] == "failure"
    assert status.body["context"] == "continuous-integration/cyclone/build"
    assert status.body["target_url"].endswith("/records/r1")
    aborted = notify.plan(finished("Aborted", policy=None, trigger="scmTrigger"), PUBLIC)
    assert aborted[0].body["state"] == "canceled"


def test_final_status_falls_back_to_the_pending_sha():
    plan = notify.plan(
        finished(policy=None, trigger="scmTrigger", commit=""), PUBLIC, pending_sha="b" * 40
    )
    assert plan[0].target["sha"] == "b" * 40
    assert notify.plan(finished(policy=None, trigger="scmTrigger", commit=""), PUBLIC) == []


def test_tag_after_success_only():
    (tag,) = notify.plan(finished(policy=None, create_tag=True), PUBLIC)
    assert tag.kind == "tag"
    assert tag.target == {
        "name": "aaaaaaa-250101120000",
        "sha": SHA,
        "provider": "github",
        "repo": "acme/widget",
    }
    assert "demo/build" in tag.body["message"]
    assert notify.plan(finished("Failed", policy=None, create_tag=True), PUBLIC) == []


def test_tag_on_svn_and_unsupported_sources():
    svn = {"type": "SVN", "svn": {"url": "svn://h/repo/trunk", "username": "u", "password": "s"}}
    (tag,) = notify.plan(
        finished(policy=None, create_tag=True, scm_type="SVN", repo=svn, commit="12"), PUBLIC
    )
    assert tag.target["provider"] == "svn" and tag.target["revision"] == "12"
    assert tag.target["credentials"] == {"username": "u", "password": "s"}
    other = {"type": "other", "otherCodeSource": {"url": "file:///x"}}
    (tag,) = notify.plan(finished(policy=None, create_tag=True, repo=other), PUBLIC)
    assert "GitHub, GitLab or SVN" in tag.target["unsupported"]


@pytest.mark.parametrize(
    ("url", "server", "repo"),
    [
        ("https://github.com/acme/widget.git", "https://github.com", "acme/widget"),
        ("https://gitlab.example.com/g/sub/app.git", "https://gitlab.example.com", "g/sub/app"),
        ("https://h.example.com/gitlab/g/app", "https://h.example.com/gitlab", "g/app"),
        ("git@github.com:acme/widget.git", "https://github.com", "acme/widget"),
        ("file:///srv/git/acme/widget.git", "http://127.0.0.1:9", "acme/widget"),
        ("http://127.0.0.1:8/g/sub/app.git", "http://127.0.0.1:9", "g/sub/app"),
        ("https://github.com/lonely", "https://example.com", None),
    ],
)
def test_the_repository_reported_to(url, server, repo):
    assert reported_repo(server, url) == repo


def test_http_outcomes_and_retry_schedule():
    assert [notify.outcome_of_http(c) for c in (200, 204, 404, 400, 429, 500, 503)] == [
        "done",
        "done",
        "give_up",
        "give_up",
        "retry",
        "retry",
        "retry",
    ]
    assert [notify.retry_delay(n, 5, 2) for n in range(1, 6)] == [2, 4, 8, 16, None]
    assert notify.retry_delay(9, 20, 60) == 300


# --- the gateway's validation of `notification` ---------------------------------------------


def _pipeline_with(notification: dict[str, Any]) -> dict[str, Any]:
    from tests.api import bodies

    body = bodies.pipeline("p")
    body["notification"] = notification
    return body


def test_notification_is_canonical_and_addresses_are_checked():
    from services.api.domain import validation
    from services.api.domain.errors import ValidationFailed

    doc = validation.pipeline_spec(
        _pipeline_with(
            {
                "policy": "failure",
                "receivers": [
                    {"type": "WebHook", "addresses": ["https://hooks.example.com/x?a=1"]},
                    {"type": "email", "addresses": ["dev@example.com"], "groups": ["g"]},
                    {"type": "slack", "addresses": ["https://hooks.slack.com/services/T/B/X"]},
                ],
            }
        )
    )
    assert doc["notification"]["policy"] == "Failure"
    assert doc["notification"]["receivers"][0]["type"] == "webhook"
    with pytest.raises(ValidationFailed) as err:
        validation.pipeline_spec(
            _pipeline_with(
                {
                    "policy": "Always",
                    "receivers": [
                        {"type": "webhook", "addresses": ["ftp://x/y", "dev@example.com"]},
                        {"type": "email", "addresses": ["http://x.example.com", "a@b"]},
                    ],
                }
            )
        )
    assert {d["field"] for d in err.value.details} == {
        "notification.receivers[0].addresses[0]",
        "notification.receivers[0].addresses[1]",
        "notification.receivers[1].addresses[0]",
    }
