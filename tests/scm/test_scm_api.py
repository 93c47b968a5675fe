"""Through the real gateway and stack: credential checks on project writes, the SCM listing
endpoints, and webhooks registered on the SCM for pipelines, against the fakes."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import httpx
import pytest
from pymongo import MongoClient

from tests.scm.conftest import PUBLIC_URL
from tests.scm.fakes import FakeGitHub, FakeGitLab, FakeRepo

SECRET_FIELDS = ("ghp_alice", "glpat-alice", "alice-pw")


def name() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


@pytest.fixture
def gh(github: FakeGitHub) -> FakeGitHub:
    github.tokens["ghp_alice"] = "alice"
    github.add_repo(
        FakeRepo(
            "alice/app",
            branches=["main", *(f"f{i:03}" for i in range(120))],
            tags=["v1", "v2"],
            languages={"Java": 500, "Shell": 3},
            files=["build.gradle", "Dockerfile", "ops/Dockerfile"],
            admins={"alice"},
        )
    )
    github.add_repo(FakeRepo("bob/lib", members={"alice"}))
    return github


def gh_project(fake: FakeGitHub, token: str = "ghp_alice") -> dict:
    return {
        "name": name(),
        "scm": {"type": "Github", "server": fake.url, "username": "alice", "token": token},
    }


def triggered(url: str, trigger: dict, kind: str = "github") -> dict:
    return {
        "name": "hooked",
        "build": {
            "builderImage": {"image": "local"},
            "stages": {"codeCheckout": {"mainRepo": {"type": kind, kind: {"url": url}}}},
        },
        "autoTrigger": {"scmTrigger": trigger},
    }


def stored_pipelines(scm_stack, project_name: str) -> list[dict]:
    url = (scm_stack.data_dir / "mongo-url").read_text().strip()
    with MongoClient(url) as client:
        db = client.get_default_database()
        project = db.projects.find_one({"name": project_name})
        return list(db.pipelines.find({"projectID": str(project["_id"])})) if project else []


def test_project_credentials_are_checked(scm_api: httpx.Client, gh: FakeGitHub):
    bad = gh_project(gh, token="ghp_wrong")
    resp = scm_api.post("/api/v1/projects", json=bad)
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "CredentialsRejected"
    assert "Bad credentials" in resp.json()["message"] and "ghp_wrong" not in resp.text
    assert scm_api.get(f"/api/v1/projects/{bad['name']}").status_code == 404

    down = gh_project(gh)
    down["scm"]["server"] = "http://127.0.0.1:1"
    resp = scm_api.post("/api/v1/projects", json=down)
    assert resp.status_code == 502 and resp.json()["reason"] == "BadGateway", resp.text
    assert "did not answer" in resp.json()["message"]

    good = gh_project(gh)
    resp = scm_api.post("/api/v1/projects", json=good)
    assert resp.status_code == 201, resp.text
    assert resp.json()["scm"]["token"] == "******"
    checks = gh.requests.count(("GET", "/api/v3/user"))
    # An update that leaves the scm section alone does not ask the SCM again ...
    resp = scm_api.patch(f"/api/v1/projects/{good['name']}", json={"description": "d"})
    assert resp.status_code == 200 and gh.requests.count(("GET", "/api/v3/user")) == checks
    # ... one that changes it does, and a refusal changes nothing.
    resp = scm_api.patch(f"/api/v1/projects/{good['name']}", json={"scm": {"token": "revoked"}})
    assert resp.status_code == 400 and resp.json()["reason"] == "CredentialsRejected"
    assert gh.requests.count(("GET", "/api/v3/user")) == checks + 1
    listed = scm_api.get(f"/api/v1/projects/{good['name']}/repos")
    assert listed.status_code == 200  # the stored token still works


def test_listing_endpoints(scm_api: httpx.Client, gh: FakeGitHub):
    project = gh_project(gh)
    assert scm_api.post("/api/v1/projects", json=project).status_code == 201
    base = f"/api/v1/projects/{project['name']}"
    repos = scm_api.get(f"{base}/repos").json()
    assert repos == {
        "metadata": {"total": 2},
        "items": [
            {"name": "alice/app", "url": f"{gh.url}/alice/app.git"},
            {"name": "bob/lib", "url": f"{gh.url}/bob/lib.git"},
        ],
    }
    branches = scm_api.get(f"{base}/branches", params={"repo": "alice/app"}).json()
    assert branches["metadata"]["total"] == 121 and branches["items"][0] == "main"
    tags = scm_api.get(f"{base}/tags", params={"repo": "app"}).json()
    assert tags == {"metadata": {"total": 2}, "items": ["v1", "v2"]}
    kind = scm_api.get(f"{base}/templatetype", params={"repo": "alice/app"})
    assert kind.json() == {"type": "Gradle"}
    files = scm_api.get(f"{base}/dockerfiles", params={"repo": "alice/app"}).json()
    assert files["items"] == ["Dockerfile", "ops/Dockerfile"]

    missing = scm_api.get(f"{base}/branches")
    assert missing.status_code == 400 and "repo" in missing.json()["message"]
    unknown = scm_api.get(f"{base}/tags", params={"repo": "alice/nothing"})
    assert unknown.status_code == 404 and unknown.json()["reason"] == "NotFound"
    assert scm_api.get("/api/v1/projects/nope/repos").status_code == 404


def test_gitlab_project_by_password_and_listing(scm_api: httpx.Client, gitlab: FakeGitLab):
    gitlab.passwords["alice"] = "alice-pw"
    gitlab.add_repo(
        FakeRepo(
            "grp/web", languages={"JavaScript": 80.0}, files=["package.json"], admins={"alice"}
        )
    )
    project = {
        "name": name(),
        "scm": {
            "type": "gitlab",
            "server": gitlab.url,
            "username": "alice",
            "password": "alice-pw",
        },
    }
    resp = scm_api.post("/api/v1/projects", json=project)
    assert resp.status_code == 201, resp.text
    assert "alice-pw" not in resp.text
    base = f"/api/v1/projects/{project['name']}"
    assert scm_api.get(f"{base}/repos").json()["items"][0]["name"] == "grp/web"
    kind = scm_api.get(f"{base}/templatetype", params={"repo": "grp/web"}).json()
    assert kind == {"type": "NodeJS"}
    wrong = {**project, "name": name(), "scm": {**project["scm"], "password": "nope"}}
    resp = scm_api.post("/api/v1/projects", json=wrong)
    assert resp.status_code == 400 and resp.json()["reason"] == "CredentialsRejected"


def test_github_webhook_follows_the_pipeline(scm_api: httpx.Client, scm_stack, gh: FakeGitHub):
    project = gh_project(gh)
    assert scm_api.post("/api/v1/projects", json=project).status_code == 201
    pipelines = f"/api/v1/projects/{project['name']}/pipelines"
    repo = gh.repos["alice/app"]
    body = triggered(
        f"{gh.url}/alice/app.git",
        {"push": {"branches": ["main"]}, "pullRequest": {"stages": []}},
    )
    resp = scm_api.post(pipelines, json=body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    [(hook_id, hook)] = repo.hooks.items()
    url = f"{PUBLIC_URL}/api/v1/pipelines/{created['id']}/githubwebhook"
    assert hook["config"]["url"] == url and sorted(hook["events"]) == ["pull_request", "push"]
    trigger = created["autoTrigger"]["scmTrigger"]
    assert trigger["webhook"] == {"id": str(hook_id), "repo": "alice/app", "url": url}
    assert trigger["webhookSecret"] == "******"  # generated, sealed, never shown

    # The generated secret is the one deliveries are verified with.
    secret = hook["config"]["secret"]
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": hook_id}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), ping, hashlib.sha256).hexdigest()
    resp = httpx.post(
        f"{scm_stack.url}/api/v1/pipelines/{created['id']}/githubwebhook",
        content=ping,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": name(),
            "X-Hub-Signature-256": signature,
        },
    )
    assert resp.status_code == 200 and resp.json()["status"] == "ignored", resp.text

    # A change of trigger updates the same hook, keeping the secret; the webhook field sent
    # back is ignored.
    body["autoTrigger"]["scmTrigger"] = {**created["autoTrigger"]["scmTrigger"], "tagRelease": {}}
    body["autoTrigger"]["scmTrigger"]["webhook"] = {"id": "1", "repo": "x/y", "url": "z"}
    resp = scm_api.put(f"{pipelines}/hooked", json=body)
    assert resp.status_code == 200, resp.text
    assert list(repo.hooks) == [hook_id] and "create" in repo.hooks[hook_id]["events"]
    assert repo.hooks[hook_id]["config"]["secret"] == secret
    assert resp.json()["autoTrigger"]["scmTrigger"]["webhook"]["id"] == str(hook_id)

    # Dropping the trigger removes the hook.
    body.pop("autoTrigger")
    assert scm_api.put(f"{pipelines}/hooked", json=body).status_code == 200
    assert repo.hooks == {}

    # Back again, then the pipeline goes: so does its hook.
    body["autoTrigger"] = {"scmTrigger": {"push": {}}}
    assert scm_api.put(f"{pipelines}/hooked", json=body).status_code == 200
    assert len(repo.hooks) == 1
    assert scm_api.delete(f"{pipelines}/hooked").status_code == 204
    assert repo.hooks == {}


def test_webhook_permission_error_saves_nothing(scm_api: httpx.Client, scm_stack, gh: FakeGitHub):
    project = gh_project(gh)
    assert scm_api.post("/api/v1/projects", json=project).status_code == 201
    pipelines = f"/api/v1/projects/{project['name']}/pipelines"
    body = triggered(f"{gh.url}/bob/lib", {"push": {}})
    resp = scm_api.post(pipelines, json=body)
    assert resp.status_code == 403, resp.text
    assert resp.json()["reason"] == "PermissionDenied"
    assert "admin rights" in resp.json()["message"] and "bob/lib" in resp.json()["message"]
    assert stored_pipelines(scm_stack, project["name"]) == []

    # A pipeline that exists keeps its stored form when a new trigger is refused.
    body["autoTrigger"] = {}
    assert scm_api.post(pipelines, json=body).status_code == 201
    body["autoTrigger"] = {"scmTrigger": {"push": {}}}
    assert scm_api.put(f"{pipelines}/hooked", json=body).status_code == 403
    assert scm_api.get(f"{pipelines}/hooked").json()["autoTrigger"] == {}

    # A main repository elsewhere than the project's SCM cannot get a webhook: 400.
    body = triggered("https://github.com/caicloud/toy", {"push": {}})
    body["name"] = "elsewhere"
    resp = scm_api.post(pipelines, json=body)
    assert resp.status_code == 400 and "not a repository of" in resp.json()["message"]


def test_duplicate_pipeline_name_removes_the_hook_it_made(scm_api: httpx.Client, gh: FakeGitHub):
    project = gh_project(gh)
    assert scm_api.post("/api/v1/projects", json=project).status_code == 201
    pipelines = f"/api/v1/projects/{project['name']}/pipelines"
    body = triggered(f"{gh.url}/alice/app", {"push": {}})
    assert scm_api.post(pipelines, json=body).status_code == 201
    assert scm_api.post(pipelines, json=body).status_code == 409
    assert len(gh.repos["alice/app"].hooks) == 1


def test_gitlab_hooks_go_with_the_project(scm_api: httpx.Client, gitlab: FakeGitLab):
    gitlab.tokens["glpat-alice"] = "alice"
    repo = gitlab.add_repo(FakeRepo("grp/svc", admins={"alice"}))
    project = {
        "name": name(),
        "scm": {"type": "Gitlab", "server": gitlab.url, "token": "glpat-alice"},
    }
    assert scm_api.post("/api/v1/projects", json=project).status_code == 201
    pipelines = f"/api/v1/projects/{project['name']}/pipelines"
    for pipeline in ("one", "two"):
        body = triggered(
            f"{gitlab.url}/grp/svc.git",
            {
                "webhookSecret": "mine",
                "tagRelease": {},
                "pullRequestComment": {"comments": ["/retest"]},
            },
            "gitlab",
        )
        body["name"] = pipeline
        resp = scm_api.post(pipelines, json=body)
        assert resp.status_code == 201, resp.text
    hooks = list(repo.hooks.values())
    assert len(hooks) == 2 and all(h["token"] == "mine" for h in hooks)
    assert all(h["url"].endswith("/gitlabwebhook") for h in hooks)
    assert [(h["push_events"], h["tag_push_events"], h["note_events"]) for h in hooks] == [
        (False, True, True)
    ] * 2
    assert scm_api.delete(f"/api/v1/projects/{project['name']}").status_code == 204
    assert repo.hooks == {}
