"""GitHub and GitLab webhook ingress with the real payloads, signed as each SCM signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Runs, pipeline_body, project_body

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"
SECRET = "hook-secret-123"


def fixture(name: str, **changes) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    if not changes:
        return raw
    payload = json.loads(raw)
    payload.update(changes)
    return json.dumps(payload).encode()


def github(
    stack, pipeline_id: str, event: str, body: bytes, delivery: str, secret: str | None = SECRET
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return httpx.post(
        f"{stack.url}/api/v1/pipelines/{pipeline_id}/githubwebhook", content=body, headers=headers
    )


def gitlab(
    stack, pipeline_id: str, event: str, body: bytes, delivery: str, token: str = SECRET
) -> httpx.Response:
    headers = {
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": delivery,
        "X-Gitlab-Token": token,
        "Content-Type": "application/json",
    }
    return httpx.post(
        f"{stack.url}/api/v1/pipelines/{pipeline_id}/gitlabwebhook", content=body, headers=headers
    )


@pytest.fixture
def hooked(api, unique, git_repo):
    assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
    runs = Runs(api, unique)
    body = pipeline_body("hooked", git_repo.url, unit=["echo u"], package=["echo p"])
    body["autoTrigger"] = {
        "scmTrigger": {
            "webhookSecret": SECRET,
            "push": {"stages": ["package"], "branches": ["master", "release/*"]},
            "tagRelease": {"stages": []},
            "pullRequest": {"stages": ["unitTest"]},
            "pullRequestComment": {"stages": [], "comments": ["/retest"]},
        }
    }
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["autoTrigger"]["scmTrigger"]["webhookSecret"] == "******"
    return runs, resp.json()["id"]


def records(runs: Runs) -> list[dict]:
    return runs.api.get(runs.url("hooked")).json()["items"]


def test_github_push_runs_matching_branches_once(stack, hooked):
    runs, pid = hooked
    push = fixture("github/push.new-branch.json")
    resp = github(stack, pid, "push", push, "d-1")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "started"
    again = github(stack, pid, "push", push, "d-1")
    assert again.json()["status"] == "duplicate"
    started = records(runs)
    assert len(started) == 1
    rec = started[0]
    sha = json.loads(push)["after"]
    assert rec["trigger"] == "scmTrigger" and rec["performParams"]["ref"] == sha
    assert rec["performParams"]["stages"] == ["package"]
    other = fixture("github/push.new-branch.json", ref="refs/heads/dev")
    resp = github(stack, pid, "push", other, "d-2")
    assert resp.json()["status"] == "ignored" and "dev" in resp.json()["reason"]
    assert len(records(runs)) == 1


@pytest.mark.parametrize(
    ("secret", "status"), [(None, 401), ("wrong-secret", 401)], ids=["missing", "wrong"]
)
def test_github_signature_is_required(stack, hooked, secret, status):
    runs, pid = hooked
    resp = github(stack, pid, "push", fixture("github/push.new-branch.json"), "s-1", secret)
    assert resp.status_code == status and resp.json()["reason"] == "Unauthorized"
    assert records(runs) == []


def test_github_ping_pr_and_release(stack, hooked):
    runs, pid = hooked
    ping = github(stack, pid, "ping", fixture("github/ping.json"), "p-1")
    assert ping.status_code == 200 and ping.json() == {"status": "ignored", "reason": "ping"}
    pr = github(stack, pid, "pull_request", fixture("github/pull_request.opened.json"), "p-2")
    assert pr.json()["status"] == "started", pr.text
    release = github(stack, pid, "release", fixture("github/release.published.json"), "p-3")
    assert release.json()["status"] == "started", release.text
    refs = sorted(r["performParams"]["ref"] for r in records(runs))
    head = json.loads(fixture("github/pull_request.opened.json"))["pull_request"]["head"]["sha"]
    assert refs == sorted([head, "refs/tags/0.0.1"])
    closed = github(stack, pid, "pull_request", fixture("github/pull_request.closed.json"), "p-4")
    assert closed.json()["status"] == "ignored"


def test_gitlab_token_push_and_merge_request(stack, hooked):
    runs, pid = hooked
    bad = gitlab(stack, pid, "Push Hook", fixture("gitlab/push_hook.json"), "g-0", "nope")
    assert bad.status_code == 401
    push = gitlab(stack, pid, "Push Hook", fixture("gitlab/push_hook.json"), "g-1")
    assert push.status_code == 200 and push.json()["status"] == "started", push.text
    mr = gitlab(stack, pid, "Merge Request Hook", fixture("gitlab/merge_request_hook.json"), "g-2")
    assert mr.json()["status"] == "started", mr.text
    tag = gitlab(stack, pid, "Tag Push Hook", fixture("gitlab/tag_push_hook.json"), "g-3")
    assert tag.json()["status"] == "started", tag.text
    assert len(records(runs)) == 3


def test_unknown_pipeline_and_bad_payload(stack, hooked):
    _, pid = hooked
    assert github(stack, "0" * 24, "ping", b"{}", "x").status_code == 404
    assert github(stack, "not-an-id", "ping", b"{}", "x").status_code == 404
    resp = github(stack, pid, "push", b"not json", "x")
    assert resp.status_code == 400


def test_pipeline_without_secret_refuses_deliveries(stack, api, unique, git_repo):
    api.post("/api/v1/projects", json=project_body(unique))
    body = pipeline_body("open", git_repo.url, package=["true"])
    body["autoTrigger"] = {"scmTrigger": {"push": {"stages": []}}}
    pid = api.post(f"/api/v1/projects/{unique}/pipelines", json=body).json()["id"]
    resp = github(stack, pid, "push", fixture("github/push.new-branch.json"), "n-1")
    assert resp.status_code == 401 and "webhook secret" in resp.json()["message"]
