"""A project's SCM token follows `scm.server`: moving the server while the token comes back
masked or left out is 400 before anything is asked of any SCM (the credential check included),
against the fake GitHub APIs and a stack with CYCLONE_SCM_VERIFY on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from pymongo import MongoClient

from tests.scm.fakes import FakeGitHub


@pytest.fixture
def elsewhere() -> Iterator[FakeGitHub]:
    """A second GitHub: where a moved project would send its token."""
    fake = FakeGitHub()
    yield fake
    fake.close()


def stored_project(scm_stack, name: str) -> dict:
    url = (scm_stack.data_dir / "mongo-url").read_text().strip()
    with MongoClient(url) as client:
        return client.get_default_database().projects.find_one({"name": name})


def test_moving_scm_server_with_a_masked_token_is_refused_before_any_request(
    scm_api: httpx.Client, scm_stack, github: FakeGitHub, elsewhere: FakeGitHub
):
    github.tokens["ghp_alice"] = "alice"
    elsewhere.tokens["ghp_alice"] = "alice"  # it would even accept the token
    name = f"s{uuid.uuid4().hex[:10]}"
    body = {
        "name": name,
        "scm": {"type": "Github", "server": github.url, "username": "alice", "token": "ghp_alice"},
    }
    assert scm_api.post("/api/v1/projects", json=body).status_code == 201
    stored = stored_project(scm_stack, name)
    path = f"/api/v1/projects/{name}"

    resp = scm_api.patch(path, json={"scm": {"server": elsewhere.url, "token": "******"}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "SecretRequired"
    assert "scm.server" in resp.json()["message"] and "scm.token" in resp.json()["message"]
    # The same by PUT, the token left out.
    echoed = scm_api.get(path).json()
    echoed["scm"]["server"] = elsewhere.url
    del echoed["scm"]["token"]
    assert scm_api.put(path, json=echoed).status_code == 400
    assert elsewhere.requests == []
    assert stored_project(scm_stack, name)["scm"] == stored["scm"]

    # The same server with the mask: kept, and the stored token still works there.
    checks = len(github.requests)
    resp = scm_api.patch(path, json={"scm": {"server": github.url + "/", "token": "******"}})
    assert resp.status_code == 200, resp.text
    assert stored_project(scm_stack, name)["scm"]["token"] == stored["scm"]["token"]
    assert scm_api.get(f"{path}/repos").status_code == 200 and len(github.requests) > checks

    # Sent again with the new server: checked there, and saved.
    resp = scm_api.patch(path, json={"scm": {"server": elsewhere.url, "token": "ghp_alice"}})
    assert resp.status_code == 200, resp.text
    assert ("GET", "/api/v3/user") in elsewhere.requests
    assert stored_project(scm_stack, name)["scm"]["server"] == elsewhere.url
