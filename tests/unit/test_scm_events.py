"""Parsing real GitHub/GitLab webhook deliveries into ScmEvent."""

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.scm.domain.events import BadPayload, ScmEvent, parse

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"
GITLAB_HEADERS = {
    "push_hook": "Push Hook",
    "tag_push_hook": "Tag Push Hook",
    "merge_request_hook": "Merge Request Hook",
}
ZERO = "0" * 40


def load(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / name).read_bytes())


def header_of(path: Path) -> str:
    """The event header a fixture was delivered with (see the fixtures' README files)."""
    if path.parent.name == "github":
        return path.name.split(".")[0]
    return GITLAB_HEADERS[path.stem]


# A GitLab "Comment on a merge request" Note Hook, in the shape of GitLab's documentation
# (webhook_events.md); the fixtures have no note payload.
GITLAB_NOTE = {
    "object_kind": "note",
    "event_type": "note",
    "project_id": 5,
    "object_attributes": {
        "id": 1244,
        "note": "/retest",
        "noteable_type": "MergeRequest",
        "noteable_id": 7,
        "system": False,
        "action": "create",
        "url": "http://example.com/gitlab-org/gitlab-test/merge_requests/1#note_1244",
    },
    "merge_request": {
        "id": 7,
        "iid": 1,
        "target_branch": "markdown",
        "source_branch": "master",
        "title": "Tempora et eos debitis quae laborum et.",
        "state": "opened",
        "last_commit": {"id": "562e173be03b8ff2efb05345d12df18815438a4b"},
    },
}

PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
EXPECTED = {
    "github/create.json": dict(
        kind="tag", action="created", ref="refs/tags/simple-tag", tag="simple-tag", commit=None
    ),
    "github/issue_comment.created.json": dict(
        kind="other", action="created", number=1, ref=None, comment=None
    ),
    "github/ping.json": dict(kind="ping", action=None, ref=None),
    "github/pull_request.closed.json": dict(
        kind="pull_request",
        action="closed",
        ref="refs/pull/2/head",
        branch="master",
        number=2,
        commit=PR_SHA,
        head_sha=PR_SHA,
        head_ref="changes",
        pr_state="closed",
    ),
    "github/pull_request.opened.json": dict(
        kind="pull_request",
        action="opened",
        ref="refs/pull/2/head",
        branch="master",
        number=2,
        head_sha=PR_SHA,
        head_ref="changes",
        pr_state="open",
        before=None,
    ),
    "github/pull_request.synchronize.json": dict(
        kind="pull_request",
        action="synchronize",
        ref="refs/pull/2/head",
        number=2,
        head_sha=PR_SHA,
        before="f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
    ),
    # The "push" fixture deletes the tag simple-tag; it is no branch push at all.
    "github/push.json": dict(
        kind="other",
        action="deleted",
        ref="refs/tags/simple-tag",
        tag="simple-tag",
        branch=None,
        commit=None,
        before="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    ),
    "github/push.new-branch.json": dict(
        kind="push",
        ref="refs/heads/master",
        branch="master",
        tag=None,
        commit="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        before=None,  # all zeros: the branch is new
    ),
    "github/release.created.json": dict(
        kind="tag", action="created", ref="refs/tags/0.0.1", tag="0.0.1", commit=None
    ),
    "github/release.published.json": dict(
        kind="tag", action="published", ref="refs/tags/0.0.1", tag="0.0.1"
    ),
    "gitlab/merge_request_hook.json": dict(
        kind="pull_request",
        action="open",
        ref="refs/merge-requests/1/head",
        branch="master",
        number=1,
        commit="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        head_sha="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        head_ref="ms-viewport",
        pr_state="open",
        before=None,
    ),
    "gitlab/push_hook.json": dict(
        kind="push",
        action="pushed",
        ref="refs/heads/master",
        branch="master",
        commit="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        before="95790bf891e76fee5e1747ab589903a6a1f80f22",
    ),
    "gitlab/tag_push_hook.json": dict(
        kind="tag",
        action="pushed",
        ref="refs/tags/v1.0.0",
        tag="v1.0.0",
        commit="82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
    ),
}


def test_every_fixture_has_expectations():
    found = {f"{p.parent.name}/{p.name}" for p in FIXTURES.rglob("*.json")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str):
    path = FIXTURES / name
    event = parse(path.parent.name, header_of(path), "d-1", json.loads(path.read_bytes()))
    assert event.provider == path.parent.name
    assert event.delivery_id == "d-1"
    for field, value in EXPECTED[name].items():
        assert getattr(event, field) == value, field
    assert "d-1" in event.describe()


def test_describe():
    got = {
        name: parse(
            (FIXTURES / name).parent.name,
            header_of(FIXTURES / name),
            None,
            json.loads((FIXTURES / name).read_bytes()),
        ).describe()
        for name in EXPECTED
    }
    assert got["github/push.new-branch.json"] == "GitHub push to master at 6113728"
    assert got["github/push.json"] == "GitHub refs/tags/simple-tag deleted"
    assert got["github/ping.json"] == "GitHub ping"
    assert got["github/release.published.json"] == "GitHub release 0.0.1 published"
    assert got["github/create.json"] == "GitHub tag simple-tag created"
    assert got["github/pull_request.opened.json"] == (
        "GitHub pull request #2 opened (changes → master) at ec26c3e"
    )
    assert got["github/issue_comment.created.json"] == (
        "GitHub comment on issue #1, which is not a pull request"
    )
    assert got["gitlab/merge_request_hook.json"] == (
        "GitLab merge request #1 open (ms-viewport → master) at da15608"
    )
    assert got["gitlab/tag_push_hook.json"] == "GitLab tag v1.0.0 pushed at 82b3d5a"


def test_delivery_id():
    payload = load("github", "ping.json")
    assert parse("github", "ping", " 72d3162e-cc78 ", payload).delivery_id == "72d3162e-cc78"
    assert parse("github", "ping", "", payload).delivery_id is None
    assert parse("github", "ping", None, payload).delivery_id is None
    described = parse("github", "ping", "72d3162e", payload).describe()
    assert described == "GitHub ping [delivery 72d3162e]"


def test_event_is_frozen():
    event = parse("github", "ping", None, load("github", "ping.json"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "push"  # type: ignore[misc]


# --- GitHub ---------------------------------------------------------------------------------


def test_github_branch_deletion_is_other():
    payload = load("github", "push.new-branch.json")
    payload.update(
        ref="refs/heads/feature/x", before=payload["after"], after=ZERO, deleted=True, created=False
    )
    payload["head_commit"] = None
    event = parse("github", "push", None, payload)
    assert (event.kind, event.action) == ("other", "deleted")
    assert event.branch == "feature/x"
    assert event.commit is None
    assert event.describe() == "GitHub refs/heads/feature/x deleted"


def test_github_deleted_flag_alone_means_deletion():
    payload = load("github", "push.new-branch.json")
    payload["deleted"] = True
    assert parse("github", "push", None, payload).kind == "other"


def test_github_tag_push_is_a_tag_not_a_branch():
    payload = load("github", "push.json")
    payload.update(after="6113728f27ae82c7b1a177c8d03f9e96e0adf246", deleted=False, created=True)
    event = parse("github", "push", None, payload)
    assert (event.kind, event.action) == ("tag", "pushed")
    assert (event.tag, event.branch) == ("simple-tag", None)
    assert event.commit == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def test_github_push_to_other_ref():
    payload = load("github", "push.new-branch.json")
    payload["ref"] = "refs/notes/commits"
    event = parse("github", "push", None, payload)
    assert (event.kind, event.branch, event.tag) == ("other", None, None)


def test_github_sha_is_lowercased():
    payload = load("github", "push.new-branch.json")
    payload["after"] = payload["after"].upper()
    assert parse("github", "push", None, payload).commit == payload["after"].lower()


def test_github_comment_on_pull_request():
    payload = load("github", "issue_comment.created.json")
    payload["issue"]["pull_request"] = {
        "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
        "html_url": "https://github.com/Codertocat/Hello-World/pull/1",
    }
    payload["comment"]["body"] = "/retest\r\n"
    event = parse("github", "issue_comment", "d", payload)
    assert event.kind == "comment"
    assert event.action == "created"
    assert event.number == 1
    assert event.ref == "refs/pull/1/head"
    assert event.comment == "/retest\r\n"  # kept as sent; matching strips it
    assert event.pr_state == "open"
    assert event.commit is None  # an issue comment names no commit
    assert event.describe() == 'GitHub comment on pull request #1 created: "/retest" [delivery d]'


def test_github_comment_on_plain_issue_is_other():
    event = parse("github", "issue_comment", None, load("github", "issue_comment.created.json"))
    assert event.kind == "other"
    assert event.comment is None


def test_github_create_branch_is_other():
    payload = load("github", "create.json")
    payload.update(ref="feature/x", ref_type="branch")
    event = parse("github", "create", None, payload)
    assert (event.kind, event.branch, event.ref) == ("other", "feature/x", "refs/heads/feature/x")


def test_github_merged_pull_request_state():
    payload = load("github", "pull_request.closed.json")
    payload["pull_request"]["merged"] = True
    assert parse("github", "pull_request", None, payload).pr_state == "merged"


@pytest.mark.parametrize("header", ["star", "delete", "workflow_run", "check_suite"])
def test_github_unhandled_events_are_other(header):
    event = parse("github", header, None, {"action": "created"})
    assert event.kind == "other"
    assert event.event == header


def test_github_header_case():
    event = parse("github", " Pull_Request ", None, load("github", "pull_request.opened.json"))
    assert (event.kind, event.event) == ("pull_request", "pull_request")


# --- GitLab ---------------------------------------------------------------------------------


def test_gitlab_tag_deletion_is_other():
    payload = load("gitlab", "tag_push_hook.json")
    payload.update(before=payload["after"], after=ZERO, checkout_sha=None)
    event = parse("gitlab", "Tag Push Hook", None, payload)
    assert (event.kind, event.action, event.tag) == ("other", "deleted", "v1.0.0")
    assert event.commit is None


def test_gitlab_branch_deletion_is_other():
    payload = load("gitlab", "push_hook.json")
    payload.update(after=ZERO, checkout_sha=None, commits=[], total_commits_count=0)
    event = parse("gitlab", "Push Hook", None, payload)
    assert (event.kind, event.action, event.branch) == ("other", "deleted", "master")


def test_gitlab_annotated_tag_builds_the_tagged_commit():
    """For annotated tags `after` is the tag object; `checkout_sha` is the commit."""
    payload = load("gitlab", "tag_push_hook.json")
    payload["after"] = "1" * 40
    event = parse("gitlab", "Tag Push Hook", None, payload)
    assert event.commit == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"


def test_gitlab_merge_request_update_with_new_commits():
    payload = load("gitlab", "merge_request_hook.json")
    payload["object_attributes"].update(
        action="update", oldrev="95790bf891e76fee5e1747ab589903a6a1f80f22"
    )
    event = parse("gitlab", "Merge Request Hook", None, payload)
    assert (event.action, event.before) == ("update", "95790bf891e76fee5e1747ab589903a6a1f80f22")


@pytest.mark.parametrize(
    ("state", "expected"),
    [("opened", "open"), ("reopened", "open"), ("closed", "closed"), ("merged", "merged")],
)
def test_gitlab_merge_request_states(state, expected):
    payload = load("gitlab", "merge_request_hook.json")
    payload["object_attributes"]["state"] = state
    assert parse("gitlab", "Merge Request Hook", None, payload).pr_state == expected


def test_gitlab_note_on_merge_request():
    event = parse("gitlab", "Note Hook", "uuid-1", copy.deepcopy(GITLAB_NOTE))
    assert event.kind == "comment"
    assert event.action == "create"
    assert event.comment == "/retest"
    assert event.number == 1
    assert event.ref == "refs/merge-requests/1/head"
    assert event.head_sha == "562e173be03b8ff2efb05345d12df18815438a4b"
    assert (event.head_ref, event.branch, event.pr_state) == ("master", "markdown", "open")


def test_gitlab_note_without_action_is_a_creation():
    payload = copy.deepcopy(GITLAB_NOTE)
    del payload["object_attributes"]["action"]
    assert parse("gitlab", "Note Hook", None, payload).action == "create"


@pytest.mark.parametrize("keep_mr", [False, True])
@pytest.mark.parametrize("noteable", ["Issue", "Commit", "Snippet"])
def test_gitlab_note_elsewhere_is_other(noteable, keep_mr):
    """The noteable type decides, even if a stray merge_request object came along."""
    payload = copy.deepcopy(GITLAB_NOTE)
    payload["object_attributes"]["noteable_type"] = noteable
    if not keep_mr:
        del payload["merge_request"]
    event = parse("gitlab", "Note Hook", None, payload)
    assert event.kind == "other"
    assert event.describe() == "GitLab comment that is not on a merge request"


def test_gitlab_push_of_non_branch_ref_is_other():
    payload = load("gitlab", "push_hook.json")
    payload["ref"] = "refs/tags/master"
    event = parse("gitlab", "Push Hook", None, payload)
    assert (event.kind, event.branch) == ("other", None)


@pytest.mark.parametrize("header", ["Pipeline Hook", "Job Hook", "System Hook", "push"])
def test_gitlab_unhandled_events_are_other(header):
    assert parse("gitlab", header, None, {"object_kind": "pipeline"}).kind == "other"


def test_gitlab_header_case():
    event = parse("gitlab", "merge request hook", None, load("gitlab", "merge_request_hook.json"))
    assert (event.kind, event.event) == ("pull_request", "Merge Request Hook")


# --- bad deliveries -------------------------------------------------------------------------


def broken(provider: str, name: str, *path: str, value: object = KeyError) -> dict:
    """A fixture with the field at `path` removed (or set to `value`)."""
    payload = load(provider, name)
    node = payload
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("provider", "header", "payload", "message"),
    [
        ("github", "push", broken("github", "push.new-branch.json", "ref"), "no ref"),
        ("github", "push", broken("github", "push.new-branch.json", "after"), "after"),
        ("github", "push", broken("github", "push.new-branch.json", "after", value="xyz"), "sha"),
        ("github", "push", broken("github", "push.new-branch.json", "ref", value=7), "ref"),
        ("github", "create", broken("github", "create.json", "ref_type"), "ref_type"),
        ("github", "release", broken("github", "release.published.json", "release"), "release"),
        (
            "github",
            "release",
            broken("github", "release.published.json", "release", "tag_name"),
            "release.tag_name",
        ),
        (
            "github",
            "pull_request",
            broken("github", "pull_request.opened.json", "pull_request", "head", "sha"),
            "pull_request.head.sha",
        ),
        (
            "github",
            "pull_request",
            broken("github", "pull_request.opened.json", "number", value="2"),
            "number",
        ),
        (
            "github",
            "pull_request",
            broken("github", "pull_request.opened.json", "action"),
            "action",
        ),
        (
            "github",
            "issue_comment",
            broken("github", "issue_comment.created.json", "issue", "number"),
            "issue.number",
        ),
        ("gitlab", "Push Hook", broken("gitlab", "push_hook.json", "ref"), "ref"),
        (
            "gitlab",
            "Tag Push Hook",
            broken("gitlab", "tag_push_hook.json", "ref", value="refs/heads/v1"),
            "refs/tags/",
        ),
        (
            "gitlab",
            "Merge Request Hook",
            broken("gitlab", "merge_request_hook.json", "object_attributes", "iid"),
            "object_attributes.iid",
        ),
        (
            "gitlab",
            "Merge Request Hook",
            broken("gitlab", "merge_request_hook.json", "object_attributes"),
            "object_attributes",
        ),
    ],
)
def test_bad_payload(provider, header, payload, message):
    with pytest.raises(BadPayload, match=message):
        parse(provider, header, None, payload)


def test_github_comment_on_pull_request_without_body():
    payload = load("github", "issue_comment.created.json")
    payload["issue"]["pull_request"] = {"url": "x"}
    del payload["comment"]["body"]
    with pytest.raises(BadPayload, match=r"comment\.body"):
        parse("github", "issue_comment", None, payload)


def test_gitlab_note_without_merge_request_iid():
    payload = copy.deepcopy(GITLAB_NOTE)
    del payload["merge_request"]["iid"]
    with pytest.raises(BadPayload, match=r"merge_request\.iid"):
        parse("gitlab", "Note Hook", None, payload)


def test_bad_delivery_envelope():
    with pytest.raises(BadPayload, match="missing X-GitHub-Event header"):
        parse("github", None, None, {})
    with pytest.raises(BadPayload, match="missing X-Gitlab-Event header"):
        parse("gitlab", " ", None, {})
    with pytest.raises(BadPayload, match="not a JSON object"):
        parse("github", "push", None, [1, 2])
    with pytest.raises(BadPayload, match="unknown SCM provider"):
        parse("bitbucket", "push", None, {})
    assert issubclass(BadPayload, ValueError)


def test_scm_event_fields_default_to_none():
    event = ScmEvent(provider="github", event="ping", kind="ping")
    assert event.ref is None and event.commit is None and event.number is None


def test_domain_is_pure():
    """The package must import without nameko, pymongo or falcon (brief: a pure domain)."""
    code = (
        "import sys\n"
        "import services.scm.domain.events, services.api.domain.signatures\n"
        "import services.scm.domain.triggers\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'nameko', 'pymongo', 'falcon', 'eventlet', 'kombu'})\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
