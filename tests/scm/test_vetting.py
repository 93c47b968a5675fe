"""What the scm service asks the SCM before a webhook run (services/scm/vetting.py): a GitLab
note author's access level, a commented GitHub pull request's head. The real adapters against
the fakes of the REST APIs (tests/scm/fakes.py), in this process."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from services.scm import vetting
from services.scm.domain.events import parse
from services.scm.providers.base import provider_for
from shared.contracts.errors import CredentialsRejected, NotFound
from tests.scm.fakes import FakeGitHub, FakeGitLab, FakeRepo
from tests.webhooks import GITLAB_NOTE

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"


def opened(scm: dict) -> vetting.Accounts:
    """The service's `accounts`, for snapshots whose secrets are already plain here."""
    return lambda _sealed: provider_for(dict(scm))


@pytest.fixture
def gl(gitlab: FakeGitLab):
    gitlab.tokens["glpat-bot"] = "bot"
    repo = gitlab.add_repo(FakeRepo("gitlab-org/gitlab-test", members={"bot"}))
    repo.access = {12: ("dev", 30), 13: ("rep", 20), 14: ("owner", 50)}
    scm = {"type": "Gitlab", "server": gitlab.url, "token": "glpat-bot"}
    return repo, scm


def test_gitlab_access_levels_from_the_members_endpoint(gitlab, gl):
    repo, scm = gl
    adapter = provider_for(scm)
    assert adapter.access_level(str(repo.id), 12) == 30
    assert adapter.access_level("gitlab-org/gitlab-test", 14) == 50
    assert adapter.access_level(str(repo.id), 99) is None  # 404: no member
    assert ("GET", f"/api/v4/projects/{repo.id}/members/all/99") in gitlab.requests
    # A project these credentials do not see answers 404 too: no access either way.
    assert adapter.access_level("999", 12) is None
    bad = provider_for({**scm, "token": "wrong"})
    with pytest.raises(CredentialsRejected):
        bad.access_level(str(repo.id), 12)


def note(user_id: int, username: str, project_id: int) -> object:
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["user"].update(id=user_id, username=username)
    payload["object_attributes"]["author_id"] = user_id
    payload["project_id"] = payload["project"]["id"] = project_id
    return parse("gitlab", "Note Hook", "uuid", payload)


def test_gitlab_note_of_a_developer_may_start_a_run_others_not(gl):
    repo, scm = gl
    project = {"scm": scm}
    accounts = opened(scm)
    assert vetting.comment_refusal(note(12, "dev", repo.id), project, accounts) is None
    assert vetting.comment_refusal(note(14, "owner", repo.id), project, accounts) is None
    assert vetting.comment_refusal(note(13, "rep", repo.id), project, accounts) == (
        "rep may not start runs by comment: has Reporter (20) access, Developer or above is needed"
    )
    assert vetting.comment_refusal(note(77, "stranger", repo.id), project, accounts) == (
        "stranger may not start runs by comment: is not a member of the project, Developer "
        "or above is needed"
    )


def test_gitlab_note_is_refused_when_access_cannot_be_checked(gl):
    repo, scm = gl
    event = note(12, "dev", repo.id)
    broken = opened({**scm, "token": "revoked"})
    refusal = vetting.comment_refusal(event, {"scm": scm}, broken)
    assert refusal and refusal.startswith("cannot check the access of dev: ")
    assert "rejected the credentials" in refusal
    github_project = {"scm": {"type": "Github", "server": "https://github.com"}}
    assert "the project's SCM is not GitLab" in (
        vetting.comment_refusal(event, github_project, broken) or ""
    )


def github_comment(repo: str) -> object:
    payload = json.loads((FIXTURES / "github" / "issue_comment.created.json").read_bytes())
    payload["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/1"}
    payload["repository"]["full_name"] = repo
    return parse("github", "issue_comment", "d", payload)


@pytest.fixture
def gh(github: FakeGitHub):
    github.tokens["ghp_bot"] = "bot"
    repo = github.add_repo(FakeRepo("acme/app", members={"bot"}))
    scm = {"type": "Github", "server": github.url, "token": "ghp_bot"}
    return repo, scm


def pipeline(url: str) -> dict:
    main = {"type": "Github", "github": {"url": url}}
    return {"build": {"stages": {"codeCheckout": {"mainRepo": main}}}}


def test_github_pull_head_from_the_pulls_endpoint(gh):
    repo, scm = gh
    repo.pulls = {1: {"head": "acme/app", "sha": "a" * 40}, 2: {"head": "mallory/app"}, 3: {}}
    repo.pulls[3]["head"] = None
    adapter = provider_for(scm)
    assert adapter.pull_head("acme/app", 1) == {
        "sha": "a" * 40,
        "repo": "acme/app",
        "from_fork": False,
    }
    assert adapter.pull_head("acme/app", 2)["from_fork"] is True
    assert adapter.pull_head("acme/app", 3) == {
        "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "repo": "",
        "from_fork": True,
    }
    with pytest.raises(NotFound):
        adapter.pull_head("acme/app", 9)


def test_github_comment_run_is_trusted_only_on_a_pull_request_of_the_repository(gh, github):
    repo, scm = gh
    project = {"scm": scm}
    pipe = pipeline(f"{github.url}/acme/app.git")
    accounts = opened(scm)
    repo.pulls = {1: {"head": "acme/app"}}
    event, why = vetting.untrusted_reason(github_comment("acme/app"), project, pipe, accounts)
    assert why is None and event.from_fork is False and event.head_repo == "acme/app"
    repo.pulls = {1: {"head": "mallory/app"}}
    _, why = vetting.untrusted_reason(github_comment("acme/app"), project, pipe, accounts)
    assert why == "pull request #1 comes from fork mallory/app into acme/app"
    opted_in = {**pipe, "autoTrigger": {"scmTrigger": {"forkSecrets": True}}}
    assert (
        vetting.untrusted_reason(github_comment("acme/app"), project, opted_in, accounts)[1] is None
    )


def test_github_comment_whose_pull_request_cannot_be_read_is_untrusted(gh, github):
    repo, scm = gh
    pipe = pipeline(f"{github.url}/acme/app.git")
    repo.pulls = {}  # 404
    _, why = vetting.untrusted_reason(github_comment("acme/app"), {"scm": scm}, pipe, opened(scm))
    assert why == "pull request #1: cannot tell whether its changes come from a fork"
    _, why = vetting.untrusted_reason(github_comment("acme/app"), {"scm": scm}, pipe, None)
    assert why == "pull request #1: cannot tell whether its changes come from a fork"
