"""Commit statuses and createScmTag against fakes of the GitHub and GitLab REST APIs (at the
HTTP boundary, real JSON shapes: tests/scm/fakes.py), with runs of a real local git
repository started by signed webhook deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.afterrun.receivers import Served, serve_repo
from tests.e2e.conftest import Runs, pipeline_body
from tests.repos import make_git_repo
from tests.scm.fakes import FakeGitHub, FakeGitLab, FakeRepo
from tests.waiting import wait_for, wait_for_file
from tests.webhooks import SECRET, fixture, github, gitlab


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real repository served over git's dumb HTTP protocol (static files) on 127.0.0.1, the
    host of the fake SCM APIs, so a pipeline on it is a repository of the project's SCM."""
    root = tmp_path_factory.mktemp("acme")
    git = make_git_repo(root)
    with serve_repo(root, git) as served:
        yield served


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.tokens["gh-token"] = "bot"
    yield fake
    fake.close()


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    fake.tokens["gl-token"] = "bot"
    yield fake
    fake.close()


def hooked(name: str, url: str, kind: str, package: str) -> dict[str, Any]:
    body = pipeline_body(name, url, source="github", package=[package])
    body["build"]["stages"]["codeCheckout"]["mainRepo"] = {"type": kind, kind.lower(): {"url": url}}
    body["autoTrigger"] = {"scmTrigger": {"webhookSecret": SECRET, "push": {"stages": []}}}
    return body


def setup_project(api, unique: str, kind: str, server: str, token: str) -> Runs:
    scm = {"type": kind, "server": server, "username": "bot", "token": token}
    resp = api.post("/api/v1/projects", json={"name": unique, "scm": scm})
    assert resp.status_code == 201, resp.text
    return Runs(api, unique)


def pipeline_id(runs: Runs, name: str) -> str:
    return runs.api.get(f"/api/v1/projects/{runs.project}/pipelines/{name}").json()["id"]


def only_record(runs: Runs, pipeline: str) -> dict[str, Any]:
    (record,) = runs.api.get(runs.url(pipeline)).json()["items"]
    return runs.wait(pipeline, record["id"])


def test_github_statuses_for_webhook_runs_and_a_tag_after_success(
    api, unique, after_stack, acme, fake_github, drop
):
    git, path, url = acme.git, acme.path, acme.url
    repo = fake_github.add_repo(FakeRepo(path, members={"bot"}, admins={"bot"}))
    runs = setup_project(api, unique, "Github", fake_github.url, "gh-token")
    # Runs last until the pending statuses are sent: the final status of a run supersedes a
    # pending one not sent yet (then there is no pending status to see).
    release = drop / "release"
    runs.pipeline(hooked("good", url, "Github", wait_for_file(release)))
    runs.pipeline(hooked("broken", url, "Github", wait_for_file(release) + "; exit 4"))
    push = fixture("github/push.new-branch.json", after=git.main_sha, ref="refs/heads/main")
    for i, name in enumerate(("good", "broken")):
        resp = github(after_stack, pipeline_id(runs, name), "push", push, f"{unique}-{i}")
        assert resp.json()["status"] == "started", resp.text

    def states(pipeline: str) -> list[str]:
        context = f"continuous-integration/cyclone/{pipeline}"
        return [s["state"] for s in repo.statuses if s["context"] == context]

    try:
        wait_for(lambda: states("good") and states("broken"), 20, "the pending statuses")
    finally:
        release.touch()
    good, broken = only_record(runs, "good"), only_record(runs, "broken")
    assert (good["status"], broken["status"]) == ("Success", "Failed")
    wait_for(lambda: len(states("good")) == 2 and len(states("broken")) == 2, 20, "4 statuses")
    assert states("good") == ["pending", "success"]
    assert states("broken") == ["pending", "failure"]
    assert {s["sha"] for s in repo.statuses} == {git.main_sha}
    final = next(s for s in repo.statuses if s["state"] == "success")
    assert final["target_url"] == (
        f"https://ci.example.com/ui/projects/{unique}/pipelines/good/records/{good['id']}"
    )
    assert final["description"] == "Cyclone pipeline good succeeded"
    assert final["creator"] == {"login": "bot"}

    # createScmTag on a run started by hand: a tag, and no status (not webhook-started).
    tagged = runs.run("good", ref="main", createScmTag=True)
    assert tagged["status"] == "Success"
    wait_for(lambda: len(repo.refs) == 1, 20)
    (tag,) = repo.created_tags
    assert tag["tag"] == tagged["name"] and tag["object"] == git.main_sha
    assert tag["type"] == "commit" and tagged["id"] in tag["message"]
    assert repo.refs == [{"ref": f"refs/tags/{tagged['name']}", "sha": tag["sha"]}]
    assert len(repo.statuses) == 4


def test_gitlab_statuses_and_tag(api, unique, after_stack, acme, fake_gitlab, drop):
    git, path, url = acme.git, acme.path, acme.url
    repo = fake_gitlab.add_repo(FakeRepo(path, members={"bot"}, admins={"bot"}))
    runs = setup_project(api, unique, "Gitlab", fake_gitlab.url, "gl-token")
    release = drop / "release"  # the run lasts until its pending status is sent
    runs.pipeline(hooked("app", url, "Gitlab", wait_for_file(release)))
    payload = json.loads(fixture("gitlab/push_hook.json"))
    payload.update(after=git.main_sha, checkout_sha=git.main_sha, ref="refs/heads/main")
    resp = gitlab(
        after_stack,
        pipeline_id(runs, "app"),
        "Push Hook",
        json.dumps(payload).encode(),
        f"{unique}-1",
    )
    assert resp.json()["status"] == "started", resp.text
    try:
        wait_for(lambda: repo.statuses, 20, "the pending status")
    finally:
        release.touch()
    record = only_record(runs, "app")
    assert record["status"] == "Success"
    wait_for(lambda: len(repo.statuses) == 2, 20)
    assert [s["state"] for s in repo.statuses] == ["pending", "success"]
    assert {s["sha"] for s in repo.statuses} == {git.main_sha}
    assert repo.statuses[1]["name"] == "continuous-integration/cyclone/app"
    assert repo.statuses[1]["target_url"].endswith(f"/records/{record['id']}")

    tagged = runs.run("app", ref="main", createScmTag=True)
    assert tagged["status"] == "Success"
    wait_for(lambda: tagged["name"] in repo.tags, 20)
    (tag,) = repo.created_tags
    assert tag["tag_name"] == tagged["name"] and tag["ref"] == git.main_sha
