"""Fork pull requests run untrusted; comments start runs only from those who may write.

On the real webhook payloads (../shared/fixtures/webhooks), with the head repository changed
the way a fork's pull request has it."""

import copy
import json
from pathlib import Path

import pytest

from services.scm.domain.events import ScmEvent, parse
from services.scm.domain.trust import (
    fork_secrets,
    github_comment_refusal,
    gitlab_comment_refusal,
    same_repo,
    untrusted_reason,
)
from tests.webhooks import GITLAB_NOTE

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"


def load(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / name).read_bytes())


def forked(payload: dict, full_name: str = "mallory/Hello-World", repo_id: int = 4242) -> dict:
    """A GitHub pull request payload whose head is a fork: another repository and owner."""
    out = copy.deepcopy(payload)
    head_repo = out["pull_request"]["head"]["repo"]
    head_repo.update(
        id=repo_id,
        full_name=full_name,
        name=full_name.split("/")[1],
        fork=True,
        owner={**head_repo["owner"], "login": full_name.split("/")[0], "id": 99},
    )
    out["pull_request"]["head"]["label"] = f"{full_name.split('/')[0]}:changes"
    return out


def github_pr(payload: dict) -> ScmEvent:
    return parse("github", "pull_request", "d-1", payload)


@pytest.mark.parametrize(
    "name",
    ["pull_request.opened.json", "pull_request.synchronize.json", "pull_request.closed.json"],
)
def test_github_pull_request_from_its_own_repository_is_trusted(name):
    event = github_pr(load("github", name))
    assert (event.repo, event.head_repo, event.from_fork) == (
        "Codertocat/Hello-World",
        "Codertocat/Hello-World",
        False,
    )
    assert untrusted_reason(event, "Codertocat/Hello-World") is None
    assert untrusted_reason(event, None) is None


@pytest.mark.parametrize("name", ["pull_request.opened.json", "pull_request.synchronize.json"])
def test_github_pull_request_from_a_fork_is_untrusted(name):
    event = github_pr(forked(load("github", name)))
    assert event.from_fork is True and event.head_repo == "mallory/Hello-World"
    reason = untrusted_reason(event, "Codertocat/Hello-World")
    assert reason == (
        "pull request #2 comes from fork mallory/Hello-World into Codertocat/Hello-World"
    )
    assert untrusted_reason(event, None) == reason  # the payload alone decides


def test_github_fork_is_told_by_id_not_by_name():
    """A fork may carry the same name under another owner, or be renamed: ids decide."""
    payload = forked(load("github", "pull_request.opened.json"), "Codertocat/Hello-World")
    assert github_pr(payload).from_fork is True
    renamed = copy.deepcopy(load("github", "pull_request.opened.json"))
    renamed["pull_request"]["head"]["repo"]["full_name"] = "Codertocat/Renamed"
    assert github_pr(renamed).from_fork is False


def test_github_pull_request_whose_fork_was_deleted_is_untrusted():
    payload = load("github", "pull_request.synchronize.json")
    payload["pull_request"]["head"]["repo"] = None
    event = github_pr(payload)
    assert event.from_fork is True and event.head_repo is None
    assert "a fork that no longer exists" in (untrusted_reason(event, None) or "")


def test_github_head_without_ids_is_compared_by_name_case_insensitively():
    payload = load("github", "pull_request.opened.json")
    for part in ("head", "base"):
        del payload["pull_request"][part]["repo"]["id"]
    payload["pull_request"]["head"]["repo"]["full_name"] = "codertocat/hello-world"
    assert github_pr(payload).from_fork is False


def test_pull_request_on_another_repository_than_the_pipelines_is_untrusted():
    """A webhook set up by hand on another repository: PR #2 there is not PR #2 here."""
    event = github_pr(load("github", "pull_request.opened.json"))
    assert untrusted_reason(event, "acme/app") == (
        "pull request #2 is on Codertocat/Hello-World, not on the pipeline's repository acme/app"
    )
    assert untrusted_reason(event, "codertocat/hello-world.git") is None


def test_github_comment_cannot_tell_its_head_until_asked():
    payload = load("github", "issue_comment.created.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    event = parse("github", "issue_comment", "d-2", payload)
    assert event.kind == "comment" and event.from_fork is None
    assert event.author == "Codertocat" and event.author_association == "OWNER"
    assert untrusted_reason(event, None) == (
        "pull request #1: cannot tell whether its changes come from a fork"
    )


def test_pushes_and_tags_are_never_untrusted():
    push = parse("github", "push", "d", load("github", "push.new-branch.json"))
    tag = parse("github", "create", "d", load("github", "create.json"))
    assert untrusted_reason(push, "someone/else") is None
    assert untrusted_reason(tag, "someone/else") is None


def test_gitlab_merge_request_fork_is_told_by_project_ids():
    payload = load("gitlab", "merge_request_hook.json")
    event = parse("gitlab", "Merge Request Hook", "u-1", payload)
    assert event.from_fork is False and event.repo == "gitlabhq/gitlab-test"
    assert untrusted_reason(event, "gitlabhq/gitlab-test") is None
    payload["object_attributes"]["source_project_id"] = 77
    payload["object_attributes"]["source"] = {"path_with_namespace": "mallory/gitlab-test"}
    event = parse("gitlab", "Merge Request Hook", "u-1", payload)
    assert event.from_fork is True
    assert untrusted_reason(event, "gitlabhq/gitlab-test") == (
        "merge request #1 comes from fork mallory/gitlab-test into gitlabhq/gitlab-test"
    )


def test_gitlab_merge_request_without_project_ids_is_untrusted():
    payload = load("gitlab", "merge_request_hook.json")
    del payload["object_attributes"]["source_project_id"]
    event = parse("gitlab", "Merge Request Hook", "u-1", payload)
    assert event.from_fork is None
    assert "cannot tell" in (untrusted_reason(event, None) or "")


def test_gitlab_note_carries_author_project_and_fork():
    event = parse("gitlab", "Note Hook", "u-2", copy.deepcopy(GITLAB_NOTE))
    assert (event.kind, event.author, event.author_id, event.project_id) == (
        "comment",
        "dev",
        12,
        5,
    )
    assert event.from_fork is False and untrusted_reason(event, "gitlab-org/gitlab-test") is None
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["merge_request"]["source_project_id"] = 6
    payload["merge_request"]["source"] = {"path_with_namespace": "mallory/gitlab-test"}
    event = parse("gitlab", "Note Hook", "u-2", payload)
    assert untrusted_reason(event, None) == (
        "merge request #1 comes from fork mallory/gitlab-test into gitlab-org/gitlab-test"
    )


def test_gitlab_note_author_falls_back_to_author_id():
    payload = copy.deepcopy(GITLAB_NOTE)
    del payload["user"]
    assert parse("gitlab", "Note Hook", "u-3", payload).author_id == 12


def comment(association: str | None) -> ScmEvent:
    payload = load("github", "issue_comment.created.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    if association is None:
        del payload["comment"]["author_association"]
    else:
        payload["comment"]["author_association"] = association
    return parse("github", "issue_comment", "d-3", payload)


@pytest.mark.parametrize("association", ["OWNER", "MEMBER", "COLLABORATOR", "member"])
def test_github_comments_of_writers_start_runs(association):
    assert github_comment_refusal(comment(association)) is None


@pytest.mark.parametrize(
    "association",
    ["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE", None],
)
def test_github_comments_of_others_are_refused(association):
    refusal = github_comment_refusal(comment(association))
    assert refusal == (
        f"Codertocat may not start runs by comment: author_association is "
        f"{association or 'unknown'}, one of OWNER, MEMBER, COLLABORATOR is needed"
    )


@pytest.mark.parametrize("level", [30, 40, 50])
def test_gitlab_developers_and_above_may_start_runs(level):
    event = parse("gitlab", "Note Hook", "u", copy.deepcopy(GITLAB_NOTE))
    assert gitlab_comment_refusal(event, level) is None


@pytest.mark.parametrize(
    ("level", "has"),
    [
        (None, "is not a member of the project"),
        (5, "has Minimal (5) access"),
        (10, "has Guest (10) access"),
        (20, "has Reporter (20) access"),
    ],
)
def test_gitlab_below_developer_is_refused(level, has):
    event = parse("gitlab", "Note Hook", "u", copy.deepcopy(GITLAB_NOTE))
    assert gitlab_comment_refusal(event, level) == (
        f"dev may not start runs by comment: {has}, Developer or above is needed"
    )


def test_same_repo_and_fork_secrets():
    assert same_repo("Acme/App", "acme/app.git")
    assert same_repo("group/sub/app", "sub/app")  # a main repository on a mirror
    assert not same_repo("acme/app", "acme/app2")
    assert not same_repo("acme/app", "evil-acme/app")
    assert fork_secrets({"forkSecrets": True})
    assert not fork_secrets({"forkSecrets": "true"})
    assert not fork_secrets({}) and not fork_secrets(None)
