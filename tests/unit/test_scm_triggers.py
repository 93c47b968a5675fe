"""Which webhook events start runs, on which ref and stages, and why others do not."""

import copy
import json
from pathlib import Path

import pytest

from services.scm.domain.events import ScmEvent, parse
from services.scm.domain.triggers import Match, branch_matches, match

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"
ZERO = "0" * 40
PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

EVERYTHING = {
    "push": {"stages": ["codeCheckout", "package"], "branches": []},
    "tagRelease": {"stages": ["imageRelease"]},
    "pullRequest": {"stages": ["unitTest"]},
    "pullRequestComment": {"stages": [], "comments": ["/retest"]},
}


def load(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / name).read_bytes())


def github(header: str, payload: dict) -> ScmEvent:
    return parse("github", header, "delivery-1", payload)


def gitlab(header: str, payload: dict) -> ScmEvent:
    return parse("gitlab", header, "delivery-1", payload)


def github_push(branch: str) -> ScmEvent:
    payload = load("github", "push.new-branch.json")
    payload["ref"] = f"refs/heads/{branch}"
    return github("push", payload)


def gitlab_push(branch: str) -> ScmEvent:
    payload = load("gitlab", "push_hook.json")
    payload["ref"] = f"refs/heads/{branch}"
    return gitlab("Push Hook", payload)


def github_pr(action: str) -> ScmEvent:
    payload = load("github", "pull_request.opened.json")
    payload["action"] = action
    return github("pull_request", payload)


def gitlab_mr(action: str, oldrev: str | None = None) -> ScmEvent:
    payload = load("gitlab", "merge_request_hook.json")
    payload["object_attributes"]["action"] = action
    if oldrev:
        payload["object_attributes"]["oldrev"] = oldrev
    return gitlab("Merge Request Hook", payload)


def github_pr_comment(body: str, action: str = "created", state: str = "open") -> ScmEvent:
    payload = load("github", "issue_comment.created.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    payload["issue"]["state"] = state
    payload["comment"]["body"] = body
    payload["action"] = action
    return github("issue_comment", payload)


GITLAB_NOTE = {
    "object_kind": "note",
    "object_attributes": {"note": "/retest", "noteable_type": "MergeRequest", "action": "create"},
    "merge_request": {
        "iid": 7,
        "target_branch": "main",
        "source_branch": "fix",
        "state": "opened",
        "last_commit": {"id": "562e173be03b8ff2efb05345d12df18815438a4b"},
    },
}


def gitlab_note(body: str, action: str = "create", state: str = "opened") -> ScmEvent:
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["object_attributes"].update(note=body, action=action)
    payload["merge_request"]["state"] = state
    return gitlab("Note Hook", payload)


def push_trigger(*branches: str, stages: list[str] | None = None) -> dict:
    return {"push": {"stages": stages or [], "branches": list(branches)}}


# --- push -----------------------------------------------------------------------------------


def test_push_runs_the_pushed_commit_with_the_trigger_stages():
    got = match(github("push", load("github", "push.new-branch.json")), EVERYTHING)
    assert got == Match(
        run=True,
        reason='push to branch "master" (every branch)',
        ref=PUSH_SHA,
        stages=["codeCheckout", "package"],
        trigger_kind="push",
    )


def test_gitlab_push_runs():
    got = match(gitlab("Push Hook", load("gitlab", "push_hook.json")), push_trigger("master"))
    assert got.run is True
    assert got.ref == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert got.reason == 'push to branch "master" matches ["master"]'


@pytest.mark.parametrize("make", [github_push, gitlab_push], ids=["github", "gitlab"])
@pytest.mark.parametrize(
    ("branch", "runs"),
    [
        ("main", True),
        ("release/1.0", True),
        ("release", False),
        ("dev", False),
        ("foo-main", False),  # the original's suffix match would run this
        ("main-2", False),
        ("Main", False),  # case-sensitive, like git
    ],
)
def test_branch_filter_exact_and_glob(make, branch, runs):
    got = match(make(branch), push_trigger("main", "release/*"))
    assert got.run is runs
    assert got.trigger_kind == "push"
    if not runs:
        assert got.reason == f'branch "{branch}" matches none of ["main", "release/*"]'
        assert (got.ref, got.stages) == ("", [])


def test_release_glob_is_fnmatch_not_a_suffix_or_prefix_match():
    assert branch_matches("release/*", ["release/*"])
    assert branch_matches("release/1.x/hotfix", ["release/*"])  # fnmatch "*" crosses "/"
    assert not branch_matches("old-release/1", ["release/*"])
    assert branch_matches("feature-42", ["feature-??"])
    assert not branch_matches("feature-420", ["feature-??"])


def test_master_does_not_match_foo_master():
    """original-server.md §14 item 22: `master` also matched `foo-master` and tag `master`."""
    got = match(github_push("foo-master"), push_trigger("master"))
    assert got.run is False
    assert got.reason == 'branch "foo-master" matches none of ["master"]'
    assert match(github_push("master"), push_trigger("master")).run is True


def test_tag_named_like_a_branch_is_not_a_push():
    payload = load("github", "push.json")
    payload.update(ref="refs/tags/master", after=PUSH_SHA, deleted=False)
    got = match(github("push", payload), push_trigger("master"))
    assert got.run is False
    assert got.trigger_kind == "tagRelease"
    payload = load("gitlab", "push_hook.json")
    payload["ref"] = "refs/tags/master"
    assert match(gitlab("Push Hook", payload), push_trigger("master")).run is False


def test_exact_name_with_glob_characters():
    assert branch_matches("fix[1]", ["fix[1]"])
    assert not branch_matches("fix1x", ["fix[1]"])
    assert branch_matches("fix1", ["fix[1]"])  # it is still a glob as well


@pytest.mark.parametrize("branches", [[], None, "absent"])
def test_no_branches_means_every_branch(branches):
    trigger: dict = {"stages": ["package"]}
    if branches != "absent":
        trigger["branches"] = branches
    got = match(github_push("any/thing"), {"push": trigger})
    assert got.run is True
    assert got.stages == ["package"]


def test_no_push_trigger():
    event = github_push("main")
    for scm_trigger in ({}, None, {"push": None}, {"push": "yes"}, {"tagRelease": {}}):
        got = match(event, scm_trigger)
        assert got == Match(False, "no push trigger", "", [], "push")


def test_empty_push_trigger_runs_everything():
    got = match(github_push("main"), {"push": {}})
    assert (got.run, got.stages) == (True, [])


def test_stages_are_a_copy():
    trigger = push_trigger(stages=["package"])
    got = match(github_push("main"), trigger)
    got.stages.append("x")
    assert trigger["push"]["stages"] == ["package"]


def test_branch_deletion_does_not_run():
    payload = load("github", "push.new-branch.json")
    payload.update(after=ZERO, deleted=True)
    got = match(github("push", payload), push_trigger())
    assert got.run is False
    assert got.reason == "refs/heads/master was deleted; deletions do not start runs"


# --- tags -----------------------------------------------------------------------------------


def test_release_published_runs_the_tag():
    got = match(github("release", load("github", "release.published.json")), EVERYTHING)
    assert got == Match(
        True, 'release of tag "0.0.1" published', "refs/tags/0.0.1", ["imageRelease"], "tagRelease"
    )


@pytest.mark.parametrize(
    "action", ["created", "edited", "deleted", "prereleased", "released", "unpublished"]
)
def test_other_release_actions_do_not_run(action):
    payload = load("github", "release.created.json")
    payload["action"] = action
    got = match(github("release", payload), EVERYTHING)
    assert got.run is False
    assert got.reason == f'release action "{action}" does not start runs'


def test_release_created_fixture_does_not_run():
    got = match(github("release", load("github", "release.created.json")), EVERYTHING)
    assert (got.run, got.trigger_kind) == (False, "tagRelease")


def test_github_create_tag_runs():
    got = match(github("create", load("github", "create.json")), EVERYTHING)
    assert (got.run, got.ref, got.trigger_kind) == (True, "refs/tags/simple-tag", "tagRelease")


def test_github_tag_push_leaves_the_run_to_create():
    payload = load("github", "push.json")
    payload.update(after=PUSH_SHA, deleted=False, created=True)
    got = match(github("push", payload), EVERYTHING)
    assert got.run is False
    assert got.reason == 'tag "simple-tag" pushed: its "create" event starts the run'


def test_gitlab_tag_push_runs():
    got = match(gitlab("Tag Push Hook", load("gitlab", "tag_push_hook.json")), EVERYTHING)
    assert got == Match(
        True, 'tag "v1.0.0" pushed', "refs/tags/v1.0.0", ["imageRelease"], "tagRelease"
    )


def test_tag_deletion_is_ignored():
    """original-server.md §14 item 22: GitLab tag deletions used to start runs."""
    payload = load("gitlab", "tag_push_hook.json")
    payload.update(before=payload["after"], after=ZERO, checkout_sha=None)
    got = match(gitlab("Tag Push Hook", payload), EVERYTHING)
    assert got.run is False
    assert got.reason == "refs/tags/v1.0.0 was deleted; deletions do not start runs"
    got = match(github("push", load("github", "push.json")), EVERYTHING)  # deletes simple-tag
    assert got.run is False
    assert got.reason == "refs/tags/simple-tag was deleted; deletions do not start runs"


def test_no_tag_trigger():
    got = match(github("release", load("github", "release.published.json")), push_trigger())
    assert got == Match(False, "no tagRelease trigger", "", [], "tagRelease")


# --- pull requests --------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
def test_github_pull_request_actions_that_run(action):
    got = match(github_pr(action), EVERYTHING)
    assert got == Match(True, f"pull request #2 {action}", PR_SHA, ["unitTest"], "pullRequest")


@pytest.mark.parametrize(
    "action", ["closed", "edited", "labeled", "assigned", "review_requested", "converted_to_draft"]
)
def test_github_pull_request_actions_that_do_not_run(action):
    got = match(github_pr(action), EVERYTHING)
    assert got == Match(
        False, f'pull request action "{action}" does not start runs', "", [], "pullRequest"
    )


def test_github_pull_request_fixtures():
    for name, runs in [
        ("pull_request.opened.json", True),
        ("pull_request.synchronize.json", True),
        ("pull_request.closed.json", False),
    ]:
        assert match(github("pull_request", load("github", name)), EVERYTHING).run is runs, name


@pytest.mark.parametrize("action", ["open", "reopen"])
def test_gitlab_merge_request_actions_that_run(action):
    got = match(gitlab_mr(action), EVERYTHING)
    assert got == Match(
        True,
        f"merge request #1 {action}",
        "refs/merge-requests/1/head",
        ["unitTest"],
        "pullRequest",
    )


def test_gitlab_merge_request_update_runs_only_with_new_commits():
    got = match(gitlab_mr("update", oldrev="95790bf891e76fee5e1747ab589903a6a1f80f22"), EVERYTHING)
    assert (got.run, got.ref) == (True, "refs/merge-requests/1/head")
    got = match(gitlab_mr("update"), EVERYTHING)
    assert got.run is False
    assert got.reason == "merge request update without new commits does not start runs"


@pytest.mark.parametrize("action", ["close", "merge", "approved", "unapproved"])
def test_gitlab_merge_request_actions_that_do_not_run(action):
    got = match(gitlab_mr(action), EVERYTHING)
    assert got.run is False
    assert got.reason == f'merge request action "{action}" does not start runs'


def test_gitlab_merge_request_fixture_runs():
    event = gitlab("Merge Request Hook", load("gitlab", "merge_request_hook.json"))
    assert match(event, EVERYTHING).run is True


def test_no_pull_request_trigger():
    got = match(github_pr("opened"), push_trigger())
    assert got == Match(False, "no pullRequest trigger", "", [], "pullRequest")


# --- comments -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["/retest", "  /retest\n", "/retest\r\n"])
def test_github_comment_runs(body):
    got = match(github_pr_comment(body), EVERYTHING)
    assert got == Match(
        True, 'comment "/retest" on pull request #1', "refs/pull/1/head", [], "pullRequestComment"
    )


@pytest.mark.parametrize("body", ["/lgtm", "/RETEST", "please /retest", "/retest now", "", "/"])
def test_comment_filter(body):
    got = match(github_pr_comment(body), EVERYTHING)
    assert got.run is False
    assert got.reason == f'comment "{body}" is not one of ["/retest"]'


def test_comment_filter_lists_several_comments():
    trigger = {"pullRequestComment": {"comments": ["/retest", " /build "]}}
    assert match(github_pr_comment("/build"), trigger).run is True
    got = match(github_pr_comment("/lgtm"), trigger)
    assert got.reason == 'comment "/lgtm" is not one of ["/retest", "/build"]'


def test_comment_trigger_without_comments_runs_nothing():
    got = match(github_pr_comment("/retest"), {"pullRequestComment": {"stages": []}})
    assert got.run is False
    assert got.reason == "the pullRequestComment trigger lists no comments"


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_comments_do_not_run(action):
    got = match(github_pr_comment("/retest", action=action), EVERYTHING)
    assert got.run is False
    assert got.reason == f'comment action "{action}" does not start runs'


def test_comment_on_closed_pull_request_does_not_run():
    got = match(github_pr_comment("/retest", state="closed"), EVERYTHING)
    assert got.run is False
    assert got.reason == "comments on a closed pull request do not start runs"


def test_comment_on_plain_issue_does_not_run():
    got = match(github("issue_comment", load("github", "issue_comment.created.json")), EVERYTHING)
    assert got == Match(False, "issue #1 is not a pull request", "", [], "")


def test_gitlab_note_runs():
    got = match(gitlab_note(" /retest "), EVERYTHING)
    assert got == Match(
        True,
        'comment "/retest" on merge request #7',
        "refs/merge-requests/7/head",
        [],
        "pullRequestComment",
    )


def test_gitlab_note_filters():
    assert match(gitlab_note("/lgtm"), EVERYTHING).reason == (
        'comment "/lgtm" is not one of ["/retest"]'
    )
    assert match(gitlab_note("/retest", action="update"), EVERYTHING).run is False
    got = match(gitlab_note("/retest", state="merged"), EVERYTHING)
    assert got.reason == "comments on a merged merge request do not start runs"
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["object_attributes"]["noteable_type"] = "Issue"
    del payload["merge_request"]
    got = match(gitlab("Note Hook", payload), EVERYTHING)
    assert (got.run, got.reason) == (False, "the comment is not on a merge request")


def test_no_comment_trigger():
    got = match(github_pr_comment("/retest"), push_trigger())
    assert got == Match(False, "no pullRequestComment trigger", "", [], "pullRequestComment")


# --- ping and others ------------------------------------------------------------------------


def test_ping():
    assert match(github("ping", load("github", "ping.json")), EVERYTHING) == Match(False, "ping")


def test_unhandled_events():
    got = match(github("star", {"action": "created"}), EVERYTHING)
    assert got == Match(False, '"star" events do not start runs')
    got = match(gitlab("Pipeline Hook", {}), EVERYTHING)
    assert got.reason == '"Pipeline Hook" events do not start runs'
    payload = load("github", "create.json")
    payload["ref_type"] = "branch"
    got = match(github("create", payload), EVERYTHING)
    assert got.reason == 'branch "simple-tag" created; its push event starts runs'


def test_every_fixture_has_a_decision():
    headers = {
        "push_hook": "Push Hook",
        "tag_push_hook": "Tag Push Hook",
        "merge_request_hook": "Merge Request Hook",
    }
    decided = {}
    for path in sorted(FIXTURES.rglob("*.json")):
        provider = path.parent.name
        header = path.name.split(".")[0] if provider == "github" else headers[path.stem]
        got = match(parse(provider, header, None, json.loads(path.read_bytes())), EVERYTHING)
        decided[f"{provider}/{path.name}"] = got.run
    assert decided == {
        "github/create.json": True,
        "github/issue_comment.created.json": False,
        "github/ping.json": False,
        "github/pull_request.closed.json": False,
        "github/pull_request.opened.json": True,
        "github/pull_request.synchronize.json": True,
        "github/push.json": False,
        "github/push.new-branch.json": True,
        "github/release.created.json": False,
        "github/release.published.json": True,
        "gitlab/merge_request_hook.json": True,
        "gitlab/push_hook.json": True,
        "gitlab/tag_push_hook.json": True,
    }
