"""The worker's pure rules: no processes, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.worker import domain
from services.worker.domain import Failure, GitRef, RefKind
from tests.worker.conftest import make_job


def test_run_order_keeps_the_schedulers_order_and_puts_checkout_first():
    assert domain.run_order(["unitTest", "package"]) == ["codeCheckout", "unitTest", "package"]
    assert domain.run_order(["package", "codeCheckout", "package"]) == ["codeCheckout", "package"]
    assert domain.run_order([]) == ["codeCheckout"]


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("codeCheckout", None),
        ("unitTest", None),
        ("package", None),
        ("codeScan", "stage codeScan needs a SonarQube scanner, and none is configured"),
        ("imageBuild", "stage imageBuild needs a Docker engine, and none is configured"),
        ("integrationTest", "stage integrationTest needs a Docker engine"),
        ("imageRelease", "stage imageRelease needs a Docker engine"),
        ("deploy", "unknown stage deploy"),
    ],
)
def test_unavailable_reason(stage, expected):
    reason = domain.unavailable_reason(stage)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(expected)


def test_record_name_is_short_commit_and_utc_time():
    at = datetime(2024, 3, 1, 23, 59, 58, tzinfo=timezone(timedelta(hours=-2)))
    assert domain.record_name("ABCDEF0123456789", at) == "abcdef0-240302015958"
    assert domain.record_name("12", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "12-240102030405"


def test_masker_replaces_every_secret_and_its_url_form_longest_first():
    mask = domain.Masker(["p@ss word", "p@ss", "abc", "toktoktok"])
    assert mask("x p@ss word y") == "x ****** y"
    assert mask("https://u:p%40ss%20word@host") == "https://u:******@host"
    assert mask("toktoktoktoktoktok") == "************"
    assert mask("abc stays: too short to mask") == "abc stays: too short to mask"
    assert domain.Masker([])("nothing to hide") == "nothing to hide"


def test_job_secrets_are_scm_and_source_passwords_and_secret_env_vars():
    job = make_job(
        scm={"type": "Github", "token": "tok-1234", "password": "pw-5678"},
        env=[
            {"name": "A", "value": "env-secret", "secret": True},
            {"name": "B", "value": "public-value"},
        ],
    )
    job["pipeline"]["build"]["stages"]["codeCheckout"]["mainRepo"]["otherCodeSource"] = {
        "url": "x",
        "password": "src-pass",
    }
    assert set(domain.job_secrets(job)) == {"tok-1234", "pw-5678", "env-secret", "src-pass"}


@pytest.mark.parametrize(
    ("ref", "kind", "name"),
    [
        ("", RefKind.DEFAULT, ""),
        ("HEAD", RefKind.DEFAULT, ""),
        ("main", RefKind.NAME, "main"),
        ("release/1.x", RefKind.NAME, "release/1.x"),
        ("refs/heads/feature/a", RefKind.BRANCH, "feature/a"),
        ("refs/tags/v1", RefKind.TAG, "v1"),
        ("v1.0", RefKind.NAME, "v1.0"),
        ("refs/pull/1/merge", RefKind.REF, "refs/pull/1/merge"),
        ("abcdef1", RefKind.COMMIT, "abcdef1"),
        (
            "ABCDEF0123456789abcdef0123456789abcdef01",
            RefKind.COMMIT,
            "abcdef0123456789" * 2 + "abcdef01",
        ),
        ("abcdef", RefKind.NAME, "abcdef"),  # 6 hex digits: too short for a sha
        ("a" * 41, RefKind.NAME, "a" * 41),
    ],
)
def test_classify_ref(ref, kind, name):
    assert domain.classify_ref(ref) == GitRef(kind, name)


@pytest.mark.parametrize(
    "ref", ["--upload-pack=x", "a..b", "a b", "x~1", "y^", "a:b", "x/", "@{u}"]
)
def test_ref_problem_rejects_option_like_and_malformed_refs(ref):
    assert domain.ref_problem(ref) == f'invalid ref "{ref}"'


@pytest.mark.parametrize("ref", ["main", "refs/pull/1/merge", "v1.0", "feature/x-y_z"])
def test_ref_problem_accepts_ordinary_refs(ref):
    assert domain.ref_problem(ref) is None


@pytest.mark.parametrize(
    ("ref", "url", "rev"),
    [
        ("", "file:///r/trunk", None),
        ("HEAD", "file:///r/trunk", None),
        ("12", "file:///r/trunk", "12"),
        ("r7", "file:///r/trunk", "7"),
        ("branches/x", "file:///r/trunk/branches/x", None),
        ("/tags/v1/", "file:///r/trunk/tags/v1", None),
    ],
)
def test_svn_target(ref, url, rev):
    assert domain.svn_target("file:///r/trunk/", ref) == (url, rev)


def test_git_credentials_per_source_type():
    github = {"type": "Github", "token": "t0ken"}
    gitlab = {"type": "Gitlab", "token": "t0ken"}
    account = {"type": "Gitlab", "username": "ann", "password": "pw"}
    assert domain.git_credentials("github", github, {}) == ("x-access-token", "t0ken")
    assert domain.git_credentials("gitlab", gitlab, {}) == ("oauth2", "t0ken")
    assert domain.git_credentials("gitlab", account, {}) == ("ann", "pw")
    assert domain.git_credentials("github", gitlab, {}) is None  # another SCM's token
    assert domain.git_credentials("other", github, {"username": "u", "password": "p"}) == ("u", "p")
    assert domain.git_credentials("other", github, {}) is None


def test_with_credentials_only_for_http_urls_and_quoted():
    creds = ("x-access-token", "t/k@n")
    assert (
        domain.with_credentials("https://github.com/a/b.git", creds)
        == "https://x-access-token:t%2Fk%40n@github.com/a/b.git"
    )
    for url in ("file:///srv/repo.git", "/srv/repo.git", "git@github.com:a/b.git"):
        assert domain.with_credentials(url, creds) == url
    assert domain.with_credentials("https://me@host/r", creds) == "https://me@host/r"
    assert domain.with_credentials("https://host/r", None) == "https://host/r"


def test_display_url_hides_a_password_in_the_url():
    assert domain.display_url("https://u:secret@host/r.git") == "https://u:******@host/r.git"
    assert domain.display_url("https://host/r.git") == "https://host/r.git"
    assert domain.display_url("/srv/r.git") == "/srv/r.git"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("dist/app.tar", None),
        ("**/*.xml", None),
        ("./out", None),
        ("", "output is empty"),
        ("/etc/passwd", 'output "/etc/passwd" must be relative to the code directory'),
        ("../secret", 'output "../secret" must stay inside the code directory'),
        ("a/../../b", 'output "a/../../b" must stay inside the code directory'),
    ],
)
def test_output_problem(path, problem):
    assert domain.output_problem(path) == problem


def test_folder_problem_needs_a_sub_folder():
    assert domain.folder_problem("libs/dep") is None
    assert domain.folder_problem(".") is not None
    assert domain.folder_problem("../x") is not None


def test_run_error_names_the_stopping_failure_then_the_allowed_ones():
    allowed = [Failure("unitTest", 'command "false" exited with code 1')]
    stop = Failure("package", 'output "x" not found')
    assert domain.run_error(None, []) == ""
    assert domain.run_error(stop, []) == 'output "x" not found'
    assert domain.run_error(None, allowed) == (
        'unitTest failed (allowFailure): command "false" exited with code 1'
    )
    assert domain.run_error(stop, allowed).startswith('output "x" not found; unitTest failed')


def test_echo_and_frames():
    assert domain.echo("make test") == ["$ make test"]
    assert domain.echo("a\nb\r\n") == ["$ a", "> b", "> "]
    assert domain.frame_fail("package", "boom") == "Stage: Package status: fail with error: boom"
    assert domain.exit_code(domain.ABORTED) == 3 and domain.exit_code(domain.SUCCESS) == 0
    assert domain.exit_code(domain.FAILED) == 1


def test_env_vars_and_commands():
    job = make_job(env=[{"name": "A", "value": 1}, {"value": "nameless"}, {"name": "B"}])
    assert domain.env_vars(job["pipeline"]) == {"A": "1", "B": ""}
    assert domain.commands_of({"command": "echo one"}) == ["echo one"]
    assert domain.commands_of({}) == []
