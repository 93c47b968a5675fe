"""Webhook deliveries as GitHub and GitLab make them: the real payloads (../shared/fixtures/
webhooks), signed as each SCM signs them, posted to a running stack's gateway."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "webhooks"
SECRET = "hook-secret-123"


def fixture(name: str, **changes) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    if not changes:
        return raw
    payload = json.loads(raw)
    payload.update(changes)
    return json.dumps(payload).encode()


def github(
    stack,
    pipeline_id: str,
    event: str,
    body: bytes,
    delivery: str,
    secret: str | None = SECRET,
    timeout: float = 10,
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
        f"{stack.url}/api/v1/pipelines/{pipeline_id}/githubwebhook",
        content=body,
        headers=headers,
        timeout=timeout,
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


# GitLab's documented "Comment on a merge request" payload (webhook_events.md), the parts read.
GITLAB_NOTE: dict[str, Any] = {
    "object_kind": "note",
    "event_type": "note",
    "user": {"id": 12, "name": "Dev Eloper", "username": "dev", "email": "dev@example.com"},
    "project_id": 5,
    "project": {"id": 5, "name": "Gitlab Test", "path_with_namespace": "gitlab-org/gitlab-test"},
    "object_attributes": {
        "id": 1244,
        "note": "/retest",
        "noteable_type": "MergeRequest",
        "author_id": 12,
        "project_id": 5,
        "action": "create",
    },
    "merge_request": {
        "id": 7,
        "iid": 1,
        "target_branch": "markdown",
        "source_branch": "master",
        "source_project_id": 5,
        "target_project_id": 5,
        "state": "opened",
        "last_commit": {"id": "562e173be03b8ff2efb05345d12df18815438a4b"},
        "source": {"path_with_namespace": "gitlab-org/gitlab-test"},
        "target": {"path_with_namespace": "gitlab-org/gitlab-test"},
    },
}
