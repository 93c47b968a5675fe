"""Pull requests from forks run without secrets; comments start runs only from writers.

The whole stack, signed deliveries of the real webhook payloads (../shared/fixtures/webhooks)
changed the way a fork's pull request or a comment has them, a real repository served over
git's dumb HTTP protocol, and the GitHub/GitLab REST APIs faked at HTTP (tests/scm/fakes.py)
for what the scm service asks them: a commented pull request's head, a note author's access.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.afterrun.receivers import Served, serve_repo
from tests.e2e.conftest import Runs, pipeline_body
from tests.repos import make_git_repo, sh
from tests.scm.fakes import FakeGitHub, FakeGitLab, FakeRepo
from tests.waiting import wait_for
from tests.webhooks import GITLAB_NOTE, SECRET, fixture, github, gitlab

REGISTRY_PASSWORD = "reg-pass-4711-secret"
BUILD_KEY = "build-key-0815-secret"
SCM_TOKEN = "gh-fork-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real repository over dumb HTTP on 127.0.0.1 with the refs the SCMs keep for pull and
    merge requests: refs/pull/N/head (GitHub, fork heads too), refs/merge-requests/N/head."""
    root = tmp_path_factory.mktemp("forks")
    git = make_git_repo(root)
    for ref in ("refs/pull/1/head", "refs/pull/2/head", "refs/merge-requests/1/head"):
        sh("git", "update-ref", ref, git.feature_sha, cwd=git.path)
    with serve_repo(root, git) as served:
        yield served


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.tokens[SCM_TOKEN] = "bot"
    yield fake
    fake.close()


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    fake.tokens[SCM_TOKEN] = "bot"
    yield fake
    fake.close()


def setup(api, unique: str, kind: str, server: str, url: str, triggers: dict) -> tuple[Runs, str]:
    """A project on the fake SCM with a registry, and pipeline `app` on the served repository:
    package echoes a secret envVar; imageRelease would push to the project's registry."""
    project = {
        "name": unique,
        "scm": {"type": kind, "server": server, "username": "bot", "token": SCM_TOKEN},
        "registry": {
            "server": "127.0.0.1:5999",
            "repository": "acme",
            "username": "bot",
            "password": REGISTRY_PASSWORD,
        },
    }
    resp = api.post("/api/v1/projects", json=project)
    assert resp.status_code == 201, resp.text
    runs = Runs(api, unique)
    env = [{"name": "KEY", "value": BUILD_KEY, "secret": True}]
    body = pipeline_body("app", url, source="github", package=['echo "key=[$KEY]"'], env=env)
    body["build"]["stages"]["codeCheckout"]["mainRepo"] = {"type": kind, kind.lower(): {"url": url}}
    body["build"]["stages"]["imageRelease"] = {
        "releasePolicies": [{"imageName": "app", "type": "Always"}]
    }
    body["autoTrigger"] = {"scmTrigger": {"webhookSecret": SECRET, **triggers}}
    runs.pipeline(body)
    pid = api.get(f"/api/v1/projects/{unique}/pipelines/app").json()["id"]
    return runs, pid


def package_log(runs: Runs, record: str) -> str:
    """The whole log of a run of `app` whose last stage is package, once it is all stored (the
    logs service stores lines a moment after the run's end may be seen)."""
    return runs.log_through("app", record, "Stage: Package status: finish")


def records(runs: Runs) -> list[dict[str, Any]]:
    return runs.api.get(runs.url("app")).json()["items"]


def fork_pull_request(served: Served, fork: str = "mallory/repo") -> bytes:
    """GitHub's pull_request.opened payload for a pull request into `served` whose head is a
    fork: another repository (id, name, owner) than the base."""
    payload = json.loads(fixture("github/pull_request.opened.json"))
    pr = payload["pull_request"]
    for part in (pr["base"]["repo"], payload["repository"]):
        part["full_name"] = served.path
    pr["head"]["sha"] = served.git.feature_sha
    head = pr["head"]["repo"]
    head.update(id=head["id"] + 1000, full_name=fork, fork=True)
    head["owner"] = {**head["owner"], "login": fork.split("/")[0], "id": 4242}
    return json.dumps(payload).encode()


def test_fork_pull_request_runs_without_secrets_and_skips_the_release(
    api, unique, after_stack, served, fake_github
):
    fake_github.add_repo(FakeRepo(served.path, members={"bot"}, admins={"bot"}))
    runs, pid = setup(
        api, unique, "Github", fake_github.url, served.url, {"pullRequest": {"stages": []}}
    )
    resp = github(after_stack, pid, "pull_request", fork_pull_request(served), f"{unique}-pr")
    answer = resp.json()
    assert resp.status_code == 200 and answer["status"] == "started", resp.text
    why = f"pull request #2 comes from fork mallory/repo into {served.path}"
    assert answer["untrusted"] == why
    record = runs.wait("app", answer["record"])
    assert record["status"] == "Success", record
    assert record["trusted"] is False and record["untrustedReason"] == why
    assert record["performParams"]["ref"] == served.git.feature_sha
    # (the stages' reports may reach the scheduler after the run's end)
    every = {"codeCheckout": "Success", "package": "Success", "imageRelease": "Skipped"}
    record = runs.settled("app", record["id"], every)
    release = record["stageStatus"]["imageRelease"]
    assert release["status"] == "Skipped", release
    assert release["skipReason"] == (
        f"untrusted run ({why}): images are not pushed to the project's registry "
        "(the pipeline may opt in with autoTrigger.scmTrigger.forkSecrets)"
    )
    log = runs.log_through("app", record["id"], "Stage: Push image status: skipped")
    assert f"Untrusted run: {why}." in log
    withheld = next(line for line in log.splitlines() if line.startswith("Secrets withheld: "))
    for path in (
        "project.registry.password",
        "project.scm.token",
        "pipeline.build.builderImage.envVars.0.value",
    ):
        assert path in withheld
    assert "key=[]" in log.splitlines()  # the secret envVar is empty, not masked
    assert f"Stage: Push image status: skipped: {release['skipReason']}" in log
    for secret in (REGISTRY_PASSWORD, BUILD_KEY, SCM_TOKEN):
        assert secret not in log
    # The commit status is the scm service's business (the project's token, outside the build).
    statuses = fake_github.repos[served.path].statuses
    wait_for(lambda: "success" in [s["state"] for s in statuses], 20, "the final commit status")
    assert {s["sha"] for s in statuses} == {served.git.feature_sha}
    assert {s["creator"]["login"] for s in statuses} == {"bot"}


def test_fork_pull_request_of_a_pipeline_that_opts_in_gets_its_secrets(
    api, unique, after_stack, served, fake_github
):
    fake_github.add_repo(FakeRepo(served.path, members={"bot"}, admins={"bot"}))
    triggers = {"pullRequest": {"stages": ["package"]}, "forkSecrets": True}
    runs, pid = setup(api, unique, "Github", fake_github.url, served.url, triggers)
    resp = github(after_stack, pid, "pull_request", fork_pull_request(served), f"{unique}-in")
    answer = resp.json()
    assert answer["status"] == "started" and "untrusted" not in answer, resp.text
    record = runs.wait("app", answer["record"])
    assert record["status"] == "Success" and "trusted" not in record, record
    log = package_log(runs, record["id"])
    assert "key=[******]" in log.splitlines() and "Untrusted run" not in log


def pr_comment(served: Served, association: str, number: int = 1) -> bytes:
    """GitHub's issue_comment.created payload as a `/retest` comment on pull request
    `number` of `served` (an issue with a pull_request object), by an author of `association`."""
    payload = json.loads(fixture("github/issue_comment.created.json"))
    payload["repository"]["full_name"] = served.path
    payload["issue"]["number"] = number
    payload["issue"]["pull_request"] = {
        "url": f"https://api.github.com/repos/{served.path}/pulls/{number}",
        "html_url": f"https://github.com/{served.path}/pull/{number}",
    }
    payload["comment"]["body"] = "/retest"
    payload["comment"]["author_association"] = association
    return json.dumps(payload).encode()


def test_github_comment_starts_a_run_only_for_a_collaborator(
    api, unique, after_stack, served, fake_github
):
    repo = fake_github.add_repo(FakeRepo(served.path, members={"bot"}, admins={"bot"}))
    repo.pulls = {1: {"head": served.path, "sha": served.git.feature_sha, "ref": "feature"}}
    comments = {"pullRequestComment": {"stages": ["package"], "comments": ["/retest"]}}
    runs, pid = setup(api, unique, "Github", fake_github.url, served.url, comments)

    for i, association in enumerate(("CONTRIBUTOR", "NONE", "FIRST_TIME_CONTRIBUTOR")):
        body = pr_comment(served, association)
        resp = github(after_stack, pid, "issue_comment", body, f"{unique}-no-{i}")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {
            "status": "refused",
            "reason": f"Codertocat may not start runs by comment: author_association is "
            f"{association}, one of OWNER, MEMBER, COLLABORATOR is needed",
        }
    assert records(runs) == []

    resp = github(
        after_stack, pid, "issue_comment", pr_comment(served, "COLLABORATOR"), f"{unique}-ok"
    )
    answer = resp.json()
    assert answer["status"] == "started" and "untrusted" not in answer, resp.text
    record = runs.wait("app", answer["record"])
    assert record["status"] == "Success", record
    assert "trusted" not in record and record["performParams"]["ref"] == "refs/pull/1/head"
    log = package_log(runs, record["id"])
    assert "key=[******]" in log.splitlines()  # a trusted run: the secret is there, masked
    assert ("GET", f"/api/v3/repos/{served.path}/pulls/1") in fake_github.requests
    assert len(records(runs)) == 1


def test_github_collaborators_comment_on_a_fork_runs_untrusted(
    api, unique, after_stack, served, fake_github
):
    repo = fake_github.add_repo(FakeRepo(served.path, members={"bot"}, admins={"bot"}))
    repo.pulls = {2: {"head": "mallory/repo", "sha": served.git.feature_sha}}
    comments = {"pullRequestComment": {"stages": ["package"], "comments": ["/retest"]}}
    runs, pid = setup(api, unique, "Github", fake_github.url, served.url, comments)
    body = pr_comment(served, "MEMBER", number=2)
    answer = github(after_stack, pid, "issue_comment", body, f"{unique}-fork").json()
    why = f"pull request #2 comes from fork mallory/repo into {served.path}"
    assert answer["status"] == "started" and answer["untrusted"] == why, answer
    record = runs.wait("app", answer["record"])
    assert record["status"] == "Success" and record["untrustedReason"] == why, record
    assert "key=[]" in package_log(runs, record["id"]).splitlines()


def gitlab_note(served: Served, project_id: int, user_id: int, username: str) -> bytes:
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["project_id"] = payload["project"]["id"] = project_id
    payload["project"]["path_with_namespace"] = served.path
    payload["user"].update(id=user_id, username=username)
    payload["object_attributes"]["author_id"] = user_id
    mr = payload["merge_request"]
    mr["source_project_id"] = mr["target_project_id"] = project_id
    mr["source"] = mr["target"] = {"path_with_namespace": served.path}
    mr["last_commit"] = {"id": served.git.feature_sha}
    return json.dumps(payload).encode()


def test_gitlab_note_starts_a_run_only_for_developers(
    api, unique, after_stack, served, fake_gitlab
):
    repo = fake_gitlab.add_repo(FakeRepo(served.path, members={"bot"}, admins={"bot"}))
    repo.access = {12: ("dev", 30), 13: ("rep", 20)}
    comments = {"pullRequestComment": {"stages": ["package"], "comments": ["/retest"]}}
    runs, pid = setup(api, unique, "Gitlab", fake_gitlab.url, served.url, comments)

    for i, (user, name, has) in enumerate(
        [(13, "rep", "has Reporter (20) access"), (99, "eve", "is not a member of the project")]
    ):
        body = gitlab_note(served, repo.id, user, name)
        resp = gitlab(after_stack, pid, "Note Hook", body, f"{unique}-no-{i}")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {
            "status": "refused",
            "reason": f"{name} may not start runs by comment: {has}, Developer or above is needed",
        }
    assert records(runs) == []
    members = f"/api/v4/projects/{repo.id}/members/all/"
    assert ("GET", members + "13") in fake_gitlab.requests
    assert ("GET", members + "99") in fake_gitlab.requests

    body = gitlab_note(served, repo.id, 12, "dev")
    answer = gitlab(after_stack, pid, "Note Hook", body, f"{unique}-ok").json()
    assert answer["status"] == "started" and "untrusted" not in answer, answer
    record = runs.wait("app", answer["record"])
    assert record["status"] == "Success" and "trusted" not in record, record
    assert record["performParams"]["ref"] == "refs/merge-requests/1/head"
    assert len(records(runs)) == 1
