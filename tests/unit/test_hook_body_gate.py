"""The gate that answers oversized hook bodies from their headers (services/api/bodygate.py)."""

import asyncio
import json

import pytest

from services.api.bodygate import HOOK_BODY, HookBodyGate, is_hook


def test_hook_paths():
    assert is_hook("/api/v1/subversion/uuid/postcommithook")
    assert is_hook("/api/v1/pipelines/abc/githubwebhook")
    assert is_hook("/api/v1/pipelines/abc/gitlabwebhook/")
    assert not is_hook("/api/v1/projects/p/pipelines/abc")
    assert not is_hook("/api/v1/projects/githubwebhook")


def call(path: str, length: str | None) -> tuple[list[dict], bool]:
    """Run the gate over a request; which messages it sent, whether the app was called."""
    sent: list[dict] = []
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def receive():
        raise AssertionError("the gate never reads the body")

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"x")] + ([(b"content-length", length.encode())] if length else [])
    scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(HookBodyGate(app)(scope, receive, send))
    return sent, bool(reached)


@pytest.mark.parametrize(
    ("path", "length", "passes"),
    [
        ("/api/v1/pipelines/a/githubwebhook", str(HOOK_BODY + 1), False),
        ("/api/v1/subversion/u/postcommithook", str(6 * 1024 * 1024), False),
        ("/api/v1/pipelines/a/githubwebhook", str(HOOK_BODY), True),
        ("/api/v1/pipelines/a/gitlabwebhook", None, True),  # chunked: counted by the app
        ("/api/v1/pipelines/a/gitlabwebhook", "nonsense", True),  # the server refuses it
        ("/api/v1/projects", str(HOOK_BODY + 1), True),  # the API's own 1 MiB rule answers
    ],
)
def test_gate(path, length, passes):
    sent, reached = call(path, length)
    assert reached is passes
    if not passes:
        assert sent[0]["status"] == 413
        assert json.loads(sent[1]["body"])["reason"] == "PayloadTooLarge"
