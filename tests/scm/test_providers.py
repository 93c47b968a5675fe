"""The adapters themselves (in this process) against the fakes: shapes, pagination, errors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import get_args

import pytest

from services.scm.providers.base import WebhookEvent, is_webhook_event, provider_for
from services.scm.providers.github import api_url
from shared.contracts import catalog
from shared.contracts.errors import (
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unreachable,
)
from tests.scm.fakes import FakeGitHub, FakeGitLab, FakeRepo


def test_the_webhook_event_type_spells_the_catalogs_events():
    """The adapters' Literal type and the catalog's scmTrigger keys are one list."""
    assert get_args(WebhookEvent) == catalog.WEBHOOK_EVENTS
    assert all(is_webhook_event(e) for e in catalog.WEBHOOK_EVENTS)
    assert not is_webhook_event("postCommit")


@pytest.fixture
def gh(github: FakeGitHub):
    github.tokens["ghp_alice"] = "alice"
    github.add_repo(
        FakeRepo(
            "alice/app",
            branches=["main", *(f"feature-{i:03}" for i in range(149))],
            tags=["v1.0", "v1.1"],
            languages={"Java": 9000, "Shell": 120},
            files=[
                "pom.xml",
                "src/Main.java",
                "Dockerfile",
                "deploy/web/Dockerfile",
                "x.Dockerfile",
            ],
            admins={"alice"},
        )
    )
    github.add_repo(FakeRepo("bob/lib", members={"alice"}, languages={"Go": 10}))
    github.add_repo(FakeRepo("bob/secret"))
    return provider_for(
        {"type": "Github", "server": github.url, "username": "alice", "token": "ghp_alice"}
    )


def test_github_api_urls():
    assert api_url("https://github.com") == "https://api.github.com"
    assert api_url("https://ghe.corp/") == "https://ghe.corp/api/v3"


def test_github_lists_follow_link_pagination(gh, github):
    assert gh.check() == "alice"
    assert gh.repos() == [
        {"name": "alice/app", "url": f"{github.url}/alice/app.git"},
        {"name": "bob/lib", "url": f"{github.url}/bob/lib.git"},
    ]
    branches = gh.branches("alice/app")
    assert len(branches) == 150 and branches[0] == "main" and branches[-1] == "feature-148"
    assert github.requests.count(("GET", "/api/v3/repos/alice/app/branches")) == 2
    assert gh.tags("app") == ["v1.0", "v1.1"]  # a bare name is the user's repository


def test_github_template_type_and_dockerfiles(gh):
    assert gh.template_type("alice/app") == "Maven"
    assert gh.template_type("bob/lib") == "Go"
    assert gh.dockerfiles("alice/app") == ["Dockerfile", "deploy/web/Dockerfile"]


def test_github_errors_are_contract_errors(gh, github):
    with pytest.raises(NotFound, match="bob/secret"):
        gh.branches("bob/secret")
    with pytest.raises(PermissionDenied, match="admin rights"):
        gh.create_webhook("bob/lib", "https://cy/x", "s", ["push"])
    bad = provider_for({"type": "Github", "server": github.url, "token": "nope"})
    with pytest.raises(CredentialsRejected, match="Bad credentials"):
        bad.check()
    gone = provider_for({"type": "Github", "server": "http://127.0.0.1:1", "token": "t"})
    with pytest.raises(Unreachable, match="did not answer"):
        gone.repos()
    github.repos["bob/lib"].admins.add("alice")
    github.repos["bob/lib"].files = []
    assert gh.dockerfiles("bob/lib") == []  # an empty repository


def test_github_webhook_lifecycle_status_and_tag(gh, github):
    repo = github.repos["alice/app"]
    hook = gh.create_webhook(
        "alice/app",
        "https://cy/api/v1/pipelines/p/githubwebhook",
        "s1",
        ["push", "tagRelease", "pullRequest"],
    )
    stored = repo.hooks[int(hook)]
    assert stored["config"]["secret"] == "s1" and stored["config"]["content_type"] == "json"
    assert sorted(stored["events"]) == ["create", "pull_request", "push"]
    assert (
        gh.update_webhook("alice/app", hook, stored["config"]["url"], "s2", ["pullRequestComment"])
        == hook
    )
    assert repo.hooks[int(hook)]["events"] == ["issue_comment"]
    assert repo.hooks[int(hook)]["config"]["secret"] == "s2"
    repo.hooks.clear()  # deleted on GitHub by someone: an update creates it again
    again = gh.update_webhook("alice/app", hook, "https://cy/x", "s3", ["push"])
    assert again != hook and list(repo.hooks) == [int(again)]
    gh.delete_webhook("alice/app", again)
    gh.delete_webhook("alice/app", again)  # already gone is fine
    assert repo.hooks == {}
    gh.create_status("alice/app", "a" * 40, "running", "https://cy/r/1", "building")
    gh.create_status("alice/app", "a" * 40, "canceled", "", "aborted")
    assert [s["state"] for s in repo.statuses] == ["pending", "error"]
    assert repo.statuses[0]["context"] == "continuous-integration/cyclone"
    gh.create_tag("alice/app", "build-7", "b" * 40, "built by cyclone")
    assert repo.created_tags[0]["object"] == "b" * 40 and repo.created_tags[0]["type"] == "commit"
    assert repo.refs == [{"ref": "refs/tags/build-7", "sha": repo.created_tags[0]["sha"]}]
    with pytest.raises(InvalidRequest, match="already exists"):
        gh.create_tag("alice/app", "build-7", "b" * 40, "again")


@pytest.fixture
def gl(gitlab: FakeGitLab):
    gitlab.tokens["glpat-alice"] = "alice"
    gitlab.passwords["alice"] = "alice-pw"
    gitlab.add_repo(
        FakeRepo(
            "group/sub/web",
            branches=["master", *(f"b{i}" for i in range(44))],
            tags=[f"v{i}" for i in range(25)],
            languages={"JavaScript": 61.5, "CSS": 38.5},
            files=["package.json", "src/index.js", "docker/Dockerfile"],
            admins={"alice"},
        )
    )
    gitlab.add_repo(
        FakeRepo("other/tool", members={"alice"}, denied_status=403, languages={"Python": 100.0})
    )
    return provider_for({"type": "Gitlab", "server": gitlab.url, "token": "glpat-alice"})


def test_gitlab_lists_and_pagination(gl, gitlab):
    assert gl.check() == "alice"
    assert [r["name"] for r in gl.repos()] == ["group/sub/web", "other/tool"]
    assert gl.repos()[0]["url"] == f"{gitlab.url}/group/sub/web.git"
    assert len(gl.branches("group/sub/web")) == 45
    assert gl.tags("group/sub/web")[-1] == "v24"
    assert gl.template_type("group/sub/web") == "NodeJS"
    assert gl.template_type("other/tool") == "Python"
    assert gl.dockerfiles("group/sub/web") == ["docker/Dockerfile"]


def test_gitlab_pages_follow_pagination_headers(gitlab, gl):
    gitlab.add_repo(
        FakeRepo("big/repo", branches=[f"b{i:03}" for i in range(250)], admins={"alice"})
    )
    assert len(gl.branches("big/repo")) == 250
    assert gitlab.requests.count(("GET", "/api/v4/projects/big%2Frepo/repository/branches")) == 3


def test_gitlab_password_grant(gitlab, gl):
    by_password = provider_for(
        {"type": "Gitlab", "server": gitlab.url, "username": "alice", "password": "alice-pw"}
    )
    assert by_password.check() == "alice"
    assert ("POST", "/oauth/token") in gitlab.requests
    wrong = provider_for(
        {"type": "Gitlab", "server": gitlab.url, "username": "alice", "password": "x"}
    )
    with pytest.raises(CredentialsRejected, match="grant is invalid"):
        wrong.check()


def test_gitlab_webhooks_statuses_tags_and_errors(gl, gitlab):
    repo = gitlab.repos["group/sub/web"]
    hook = gl.create_webhook(
        "group/sub/web",
        "https://cy/api/v1/pipelines/p/gitlabwebhook",
        "tok",
        ["tagRelease", "pullRequest"],
    )
    stored = repo.hooks[int(hook)]
    assert stored["token"] == "tok"
    assert (
        stored["push_events"],
        stored["tag_push_events"],
        stored["merge_requests_events"],
        stored["note_events"],
    ) == (False, True, True, False)
    gl.update_webhook("group/sub/web", hook, stored["url"], "tok2", ["push"])
    assert repo.hooks[int(hook)]["push_events"] and not repo.hooks[int(hook)]["tag_push_events"]
    gl.delete_webhook("group/sub/web", hook)
    gl.delete_webhook("group/sub/web", hook)
    assert repo.hooks == {}
    gl.create_status("group/sub/web", "c" * 40, "failure", "https://cy/r", "failed")
    assert (
        repo.statuses[0]["state"] == "failed"
        and repo.statuses[0]["name"] == "continuous-integration/cyclone"
    )
    gl.create_tag("group/sub/web", "rel-1", "c" * 40, "")
    assert repo.created_tags == [{"tag_name": "rel-1", "ref": "c" * 40, "message": "rel-1"}]
    with pytest.raises(PermissionDenied, match="403 Forbidden"):
        gl.create_webhook("other/tool", "https://cy/x", "t", ["push"])
    with pytest.raises(NotFound):
        gl.tags("nobody/here")
    with pytest.raises(CredentialsRejected):
        provider_for({"type": "Gitlab", "server": gitlab.url, "token": "bad"}).repos()


def _svn_repo(tmp_path: Path) -> str:
    subprocess.run(["svnadmin", "create", str(tmp_path / "repo")], check=True)
    url = f"file://{tmp_path}/repo"
    for path in ("trunk/app", "branches/release-1", "branches/dev", "tags/v1"):
        subprocess.run(
            ["svn", "mkdir", "-q", "--parents", "-m", "layout", f"{url}/{path}"], check=True
        )
    for name in ("pom.xml", "app/Dockerfile"):
        src = tmp_path / "f"
        src.write_text("x\n")
        subprocess.run(
            ["svn", "import", "-q", "-m", "add", str(src), f"{url}/trunk/{name}"], check=True
        )
    return url


def test_svn_standard_layout(tmp_path):
    url = _svn_repo(tmp_path)
    svn = provider_for({"type": "SVN", "server": url, "username": "u", "password": "p"})
    assert svn.check() == "u"
    assert svn.repos() == [{"name": "repo", "url": url}]
    assert svn.branches(url) == ["trunk", "dev", "release-1"]
    assert svn.tags(f"{url}/trunk") == ["v1"]
    assert svn.template_type("repo") == "Maven"
    assert svn.dockerfiles(url) == ["app/Dockerfile"]
    with pytest.raises(InvalidRequest, match="post-commit"):
        svn.create_webhook(url, "https://cy/x", "s", ["push"])
    with pytest.raises(NotFound):
        provider_for({"type": "SVN", "server": f"{url}/nothing"}).check()


def test_a_server_that_is_not_the_api(github, gitlab):
    """GitLab's adapter at a GitHub server (and the other way round): a clear 400."""
    with pytest.raises(InvalidRequest, match="is not a GitLab API"):
        provider_for({"type": "Gitlab", "server": github.url, "token": "t"}).check()
    with pytest.raises(InvalidRequest, match="is not a GitHub API"):
        provider_for({"type": "Github", "server": gitlab.url, "token": "t"}).check()
    with pytest.raises(Unreachable, match="connection refused"):
        provider_for({"type": "Gitlab", "server": "http://127.0.0.1:1", "token": "t"}).check()
