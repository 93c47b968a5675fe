"""Pure rules of SCM integration: which webhook a pipeline needs, template type detection."""

from __future__ import annotations

import pytest

from services.api.domain import webhooks
from services.api.domain.errors import ValidationFailed
from services.scm.domain import templates

# repo_path itself (shared/repos.py): tests/unit/test_repos.py.


def project(kind="Github", server="https://github.com"):
    return {"scm": {"type": kind, "server": server}}


def pipeline(trigger, kind="Github", url="https://github.com/o/r"):
    block = {"Github": "github", "Gitlab": "gitlab", "SVN": "svn", "other": "otherCodeSource"}
    return {
        "build": {
            "stages": {"codeCheckout": {"mainRepo": {"type": kind, block[kind]: {"url": url}}}}
        },
        "autoTrigger": {"scmTrigger": trigger},
    }


def test_wanted_events_and_repo():
    want = webhooks.wanted(
        project(),
        pipeline(
            {"push": {}, "pullRequestComment": {"comments": ["/retest"]}, "webhookSecret": "x"}
        ),
    )
    assert want == webhooks.Wanted("github", "o/r", ("push", "pullRequestComment"))
    assert webhooks.wanted(project(), pipeline({"webhookSecret": "x"})) is None
    assert webhooks.wanted(project(), pipeline({"push": {}}, "other", "file:///x")) is None
    assert webhooks.wanted(project("SVN"), pipeline({"postCommit": {}}, "SVN", "svn://h/r")) is None


def test_wanted_refuses_a_repository_off_the_projects_scm():
    with pytest.raises(ValidationFailed, match="project's SCM is Gitlab"):
        webhooks.wanted(project("Gitlab", "https://gitlab.com"), pipeline({"push": {}}))
    with pytest.raises(ValidationFailed, match="not a repository of"):
        webhooks.wanted(project("Github", "https://ghe.corp"), pipeline({"push": {}}))


def test_plan():
    want = webhooks.Wanted("github", "o/r", ("push",))
    hook = {"id": "7", "repo": "o/r", "url": "u"}
    assert webhooks.plan(want, None) == webhooks.Plan(create=want)
    assert webhooks.plan(want, hook) == webhooks.Plan(update=(hook, want))
    moved = webhooks.Wanted("github", "o/other", ("push",))
    assert webhooks.plan(moved, hook) == webhooks.Plan(create=moved, delete=hook)
    assert webhooks.plan(None, hook) == webhooks.Plan(delete=hook)
    assert webhooks.plan(None, None) == webhooks.Plan()
    assert webhooks.hook_url("https://cy.io/", "abc", "gitlab") == (
        "https://cy.io/api/v1/pipelines/abc/gitlabwebhook"
    )


@pytest.mark.parametrize(
    ("languages", "root", "expected"),
    [
        ({"Java": 10, "Shell": 1}, ["pom.xml"], "Maven"),
        ({"Java": 10}, ["build.gradle", "src"], "Gradle"),
        ({"Java": 10}, ["src"], "Java"),
        ({"JavaScript": 70.1, "CSS": 29.9}, ["package.json"], "NodeJS"),
        ({"Go": 5, "Python": 5}, [], "Go"),  # a tie: the first name, whatever the order
        ({"Python": 5, "Go": 5}, [], "Go"),
        ({}, ["pom.xml"], ""),
        ({"url": "https://x", "Go": 1}, [], "Go"),
    ],
)
def test_template_type(languages, root, expected):
    assert templates.template_type(languages, root) == expected


def test_build_file_type_and_dockerfiles():
    assert templates.build_file_type(["README", "package.json"]) == "NodeJS"
    assert templates.build_file_type(["README"]) == ""
    assert templates.is_dockerfile("a/b/Dockerfile") and not templates.is_dockerfile(
        "Dockerfile.dev"
    )
