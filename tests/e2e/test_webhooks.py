"""GitHub and GitLab webhook ingress with the real payloads, signed as each SCM signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import time
from collections.abc import Iterable

import httpx
import pytest

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.webhooks import SECRET, fixture, github, gitlab


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


# --- cheap refusals: size and signature before anything leaves the gateway -------------------

LIMIT = 5 * 1024 * 1024


def raw_post(
    stack, path: str, headers: dict[str, str], chunks: Iterable[bytes] = ()
) -> tuple[int, dict]:
    """POST over a bare socket: headers, then exactly `chunks` (possibly less than the body
    the headers announce), then the answer. A server that waited for the rest would never
    answer, and the socket's timeout fails the test."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            assert got, f"connection closed without an answer: {data!r}"
            data += got
        status_head, rest = data.split(b"\r\n\r\n", 1)
        lines = status_head.decode("latin-1").split("\r\n")
        fields = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        while len(rest) < int(fields.get("content-length", "0")):
            got = sock.recv(65536)
            assert got, "connection closed in the answer"
            rest += got
        return int(lines[0].split()[1]), json.loads(rest) if rest else {}


def chunked(total: int, size: int = 64 * 1024) -> Iterable[bytes]:
    """`total` bytes of chunked transfer coding, without the final empty chunk."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + b"x" * n + b"\r\n"
        sent += n


def hook_headers(event: str = "push", delivery: str = "big", signature: str = "sha256=0") -> dict:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }


def test_a_body_announced_over_5_mib_is_refused_before_it_is_read(stack, hooked):
    _, pid = hooked
    path = f"/api/v1/pipelines/{pid}/githubwebhook"
    headers = {**hook_headers(), "Content-Length": str(6 * 1024 * 1024)}
    started = time.monotonic()
    status, body = raw_post(stack, path, headers)  # not one byte of the body is sent
    assert status == 413 and body["reason"] == "PayloadTooLarge", body
    # A client asking first (curl does past 1 MiB) gets the 413, not "100 Continue".
    status, _ = raw_post(stack, path, {**headers, "Expect": "100-continue"})
    assert status == 413
    assert time.monotonic() - started < 5
    # A client that sends the whole 6 MiB gets the same answer.
    resp = httpx.post(
        f"{stack.url}{path}", content=b"x" * (6 * 1024 * 1024), headers=hook_headers()
    )
    assert resp.status_code == 413
    # GitLab's endpoint too, and exactly 5 MiB is not refused for its size.
    gl = raw_post(stack, f"/api/v1/pipelines/{pid}/gitlabwebhook", headers)
    assert gl[0] == 413
    at_limit = httpx.post(f"{stack.url}{path}", content=b"x" * LIMIT, headers=hook_headers())
    assert at_limit.status_code == 401  # read, then refused for its signature


def test_a_chunked_body_is_refused_once_it_passes_5_mib(stack, hooked):
    runs, pid = hooked
    path = f"/api/v1/pipelines/{pid}/githubwebhook"
    headers = {**hook_headers(), "Transfer-Encoding": "chunked"}
    # The body never ends (no final chunk): the answer comes once 5 MiB are passed.
    status, body = raw_post(stack, path, headers, chunked(LIMIT + 128 * 1024))
    assert status == 413 and body["reason"] == "PayloadTooLarge", body
    # A signed delivery sent chunked (no Content-Length) is read and acted on as usual.
    push = fixture("github/push.new-branch.json")
    digest = hmac.new(SECRET.encode(), push, hashlib.sha256).hexdigest()
    resp = httpx.post(
        f"{stack.url}{path}",
        content=iter([push[:100], push[100:]]),
        headers=hook_headers("push", "chunked-1", f"sha256={digest}"),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "started", resp.text
    assert len(records(runs)) == 1


def test_a_bad_signature_never_reaches_the_scm_service(stack, hooked):
    runs, pid = hooked
    push = fixture("github/push.new-branch.json")
    # With the scm service frozen, anything sent to it would wait for the RPC timeout (10 s):
    # refusals answer at once, so the gateway decided them alone.
    scm = stack.pids()["scm"]
    os.kill(scm, signal.SIGSTOP)
    try:
        for wrong in ("wrong-secret", None):
            resp = github(stack, pid, "push", push, "bad-1", wrong, timeout=5)
            assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"
            assert "X-Hub-Signature-256" in resp.json()["message"]
        resp = gitlab(stack, pid, "Push Hook", fixture("gitlab/push_hook.json"), "bad-2", "nope")
        assert resp.status_code == 401 and "X-Gitlab-Token" in resp.json()["message"]
        status, _ = raw_post(
            stack,
            f"/api/v1/pipelines/{pid}/githubwebhook",
            {**hook_headers(), "Content-Length": str(LIMIT + 1)},
        )
        assert status == 413
    finally:
        os.kill(scm, signal.SIGCONT)
    # The scm service recorded no delivery id for them: the same ids, signed, start runs.
    ok = github(stack, pid, "push", push, "bad-1")
    assert ok.status_code == 200 and ok.json()["status"] == "started", ok.text
    gl = gitlab(stack, pid, "Push Hook", fixture("gitlab/push_hook.json"), "bad-2")
    assert gl.json()["status"] == "started", gl.text
    assert len(records(runs)) == 2
