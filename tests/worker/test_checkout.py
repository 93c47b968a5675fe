"""codeCheckout against real git and svn repositories (file:// URLs and plain paths)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from services.worker.runtime import Runner
from tests.repos import GitRepo, SvnRepo
from tests.worker.conftest import MemorySink, make_job

NAME_RE = re.compile(r"[0-9a-f]{7}-\d{12}")


def run(job: dict[str, Any], workspace: Path, sink: MemorySink) -> str:
    return Runner(job, sink, workspace, threading.Event()).run()


def version(workspace: Path, sub: str = "") -> str:
    return (workspace / "code" / sub / "version.txt").read_text().strip()


def test_default_branch_without_master_with_commit_info_and_generated_name(
    git_repo: GitRepo, workspace, sink
):
    assert run(make_job(git_repo.url, stages=["codeCheckout"]), workspace, sink) == "Success"
    assert version(workspace) == "v2"
    finished = sink.finished("codeCheckout")
    assert finished["status"] == "Success" and "error" not in finished
    assert finished["details"] == {
        "commits": {
            "mainRepo": {
                "ID": git_repo.main_sha,
                "Author": "Ada Tester",
                "Date": "2024-03-01T08:20:30.000Z",
                "Message": "second version\n\nwith a body",
            }
        }
    }
    assert NAME_RE.fullmatch(finished["record_name"])
    assert finished["record_name"].startswith(git_repo.main_sha[:7])
    assert sink.run_finished["record_name"] == finished["record_name"]  # either event names it
    lines = sink.text()
    assert lines[0] == "Stage: Code checkout status: start"
    assert lines[1] == f"$ git clone --template= {git_repo.url} code"
    assert lines[-1] == "Stage: Code checkout status: finish"
    assert sink.run_finished == {
        "record_id": sink.run_finished["record_id"],
        "status": "Success",
        "time": sink.run_finished["time"],
        "log_lines": len(lines),
        "record_name": finished["record_name"],
    }


@pytest.mark.parametrize(
    ("ref", "sha", "content"),
    [
        ("feature", "feature_sha", "feature"),
        ("refs/heads/feature", "feature_sha", "feature"),
        ("main", "main_sha", "v2"),
        ("v1.0", "first_sha", "v1"),  # annotated tag
        ("refs/tags/v1.0", "first_sha", "v1"),
        ("light", "first_sha", "v1"),  # lightweight tag
        ("lonely", "orphan_tag_sha", "lonely"),  # a tag no branch reaches
        ("refs/tags/lonely", "orphan_tag_sha", "lonely"),
        ("refs/pull/1/merge", "pull_sha", "pull"),
        ("full-sha", "first_sha", "v1"),
        ("short-sha", "first_sha", "v1"),
    ],
)
def test_checkout_by_ref(git_repo: GitRepo, workspace, sink, ref, sha, content):
    expected = getattr(git_repo, sha)
    ref = {"full-sha": expected, "short-sha": expected[:7]}.get(ref, ref)
    job = make_job(git_repo.url, ref=ref, stages=["codeCheckout"])
    assert run(job, workspace, sink) == "Success", sink.lines
    assert version(workspace) == content
    assert sink.finished("codeCheckout")["details"]["commits"]["mainRepo"]["ID"] == expected


def test_a_plain_name_is_resolved_by_the_clone_itself(git_repo: GitRepo, workspace, sink):
    job = make_job(git_repo.url, ref="feature", stages=["codeCheckout"])
    assert run(job, workspace, sink) == "Success", sink.lines
    commands = [line for line in sink.text() if line.startswith("$ git")]
    assert commands == [f"$ git clone --template= --branch feature {git_repo.url} code"], (
        sink.text()
    )


def test_params_ref_wins_over_the_source_ref_which_wins_over_the_default(
    git_repo: GitRepo, tmp_path
):
    for i, (params_ref, source_ref, content) in enumerate(
        [("", "feature", "feature"), ("v1.0", "feature", "v1")]
    ):
        workspace, sink = tmp_path / str(i), MemorySink()
        workspace.mkdir()
        job = make_job(git_repo.url, ref=params_ref, source_ref=source_ref, stages=[])
        assert run(job, workspace, sink) == "Success"
        assert version(workspace) == content


def test_a_named_record_gets_no_generated_name(git_repo: GitRepo, workspace, sink):
    run(make_job(git_repo.url, record_name="v1.2.3", stages=[]), workspace, sink)
    assert "record_name" not in sink.finished("codeCheckout")
    assert "record_name" not in sink.run_finished


def test_plain_path_url_and_other_code_source(git_repo: GitRepo, workspace, sink):
    job = make_job(str(git_repo.path), kind="other", ref="feature", stages=[])
    assert run(job, workspace, sink) == "Success"
    assert version(workspace) == "feature"


@pytest.mark.parametrize(
    "ref",
    ["no-such-branch", "refs/heads/nope", "refs/tags/nope", "deadbeef00", "refs/pull/9/merge"],
)
def test_a_bad_ref_fails_checkout_naming_the_ref_and_stops_the_run(
    git_repo: GitRepo, workspace, sink, ref
):
    job = make_job(git_repo.url, ref=ref, package=["echo never"])
    assert run(job, workspace, sink) == "Failed"
    finished = sink.finished("codeCheckout")
    assert finished["status"] == "Failed"
    assert finished["error"] == f'ref "{ref}" not found in {git_repo.url}'
    assert "details" not in finished and "record_name" not in finished
    assert sink.text()[-1] == f"Stage: Code checkout status: fail with error: {finished['error']}"
    assert sink.run_finished["status"] == "Failed"
    assert sink.run_finished["error"] == finished["error"]
    assert not [e for e in sink.events if e[1].get("stage") == "package"]


def test_an_option_like_ref_is_refused(git_repo: GitRepo, workspace, sink):
    job = make_job(git_repo.url, ref="--upload-pack=touch /tmp/pwned", stages=[])
    assert run(job, workspace, sink) == "Failed"
    assert sink.finished("codeCheckout")["error"].startswith('invalid ref "--upload-pack')


def test_a_missing_repository_fails_with_gits_reason(tmp_path, workspace, sink):
    url = f"file://{tmp_path}/nothing-here.git"
    assert run(make_job(url, stages=[]), workspace, sink) == "Failed"
    error = sink.finished("codeCheckout")["error"]
    assert error.startswith(f"git clone of {url} failed (exit code 128): fatal:"), error


def test_an_empty_repository_fails_clearly(tmp_path, workspace, sink):
    from tests.repos import sh

    sh("git", "init", "-q", "--bare", str(tmp_path / "empty.git"))
    url = f"file://{tmp_path}/empty.git"
    assert run(make_job(url, stages=[]), workspace, sink) == "Failed"
    assert sink.finished("codeCheckout")["error"] == f"{url} has no commits"


def test_credentials_never_reach_the_log_or_events(workspace, sink):
    token, password = "ghp-s3cr3t-token", "svn-pa55word"
    job = make_job(
        "https://127.0.0.1:9/org/repo.git",  # nothing listens: the clone fails fast
        scm={"type": "Github", "token": token, "password": password},
        stages=[],
    )
    assert run(job, workspace, sink) == "Failed"
    everything = repr(sink.lines) + repr(sink.events)
    assert token not in everything and password not in everything
    assert "$ git clone --template= https://127.0.0.1:9/org/repo.git code" in sink.text()
    assert "git clone of https://127.0.0.1:9/org/repo.git failed" in everything


def test_dependent_repositories_go_into_their_folders(git_repo: GitRepo, workspace, sink):
    dep = {"type": "Github", "github": {"url": git_repo.url, "ref": "feature"}, "folder": "libs/d"}
    job = make_job(git_repo.url, stages=[], dep_repos=[dep])
    assert run(job, workspace, sink) == "Success", sink.lines
    assert version(workspace) == "v2" and version(workspace, "libs/d") == "feature"
    commits = sink.finished("codeCheckout")["details"]["commits"]
    assert [c["ID"] for c in commits["depRepos"]] == [git_repo.feature_sha]
    assert commits["mainRepo"]["ID"] == git_repo.main_sha


def test_a_dependent_repository_may_not_leave_the_code_directory(
    git_repo: GitRepo, workspace, sink
):
    dep = {"type": "Github", "github": {"url": git_repo.url}, "folder": "../outside"}
    assert run(make_job(git_repo.url, stages=[], dep_repos=[dep]), workspace, sink) == "Failed"
    assert "must stay inside the code directory" in sink.finished("codeCheckout")["error"]
    assert not (workspace / "outside").exists()


def test_a_non_empty_code_directory_is_not_overwritten(git_repo: GitRepo, workspace, sink):
    (workspace / "code").mkdir()
    (workspace / "code" / "keep.txt").write_text("mine")
    assert run(make_job(git_repo.url, stages=[]), workspace, sink) == "Failed"
    assert (workspace / "code" / "keep.txt").read_text() == "mine"


# --- svn --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ref", "rev", "content", "author", "message"),
    [
        ("/trunk", "", "2", "r2", "bob", "second revision\nwith two lines"),
        ("/trunk", "HEAD", "2", "r2", "bob", "second revision\nwith two lines"),
        ("/trunk", "1", "1", "r1", "ada", "initial import"),
        ("/trunk", "r1", "1", "r1", "ada", "initial import"),
        ("", "branches/b1", "3", "r2", "ada", "branch b1"),
    ],
)
def test_svn_checkout(svn_repo: SvnRepo, workspace, sink, path, ref, rev, content, author, message):
    job = make_job(svn_repo.url + path, kind="SVN", ref=ref, stages=[])
    assert run(job, workspace, sink) == "Success", sink.lines
    assert version(workspace) == content
    commit = sink.finished("codeCheckout")["details"]["commits"]["mainRepo"]
    assert (commit["ID"], commit["Author"], commit["Message"]) == (rev, author, message)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", commit["Date"])
    assert re.fullmatch(rf"{rev}-\d{{12}}", sink.finished("codeCheckout")["record_name"])


@pytest.mark.parametrize("ref", ["99", "branches/nope"])
def test_svn_bad_ref_fails_naming_the_ref(svn_repo: SvnRepo, workspace, sink, ref):
    job = make_job(svn_repo.url + "/trunk", kind="SVN", ref=ref, stages=[])
    assert run(job, workspace, sink) == "Failed"
    error = sink.finished("codeCheckout")["error"]
    assert f'at ref "{ref}" failed (exit code 1): svn: E' in error, error


def test_svn_password_goes_through_stdin_never_the_command(svn_repo: SvnRepo, workspace, sink):
    job = make_job(svn_repo.url + "/trunk", kind="SVN", stages=[])
    block = job["pipeline"]["build"]["stages"]["codeCheckout"]["mainRepo"]["svn"]
    block.update(username="ada", password="svn-secret-99")
    assert run(job, workspace, sink) == "Success", sink.lines
    assert "svn-secret-99" not in repr(sink.lines)
    echoed = [t for t in sink.text() if t.startswith("$ svn checkout")]
    assert echoed == [
        f"$ svn checkout --non-interactive --username ada --password-from-stdin --no-auth-cache "
        f"{svn_repo.url}/trunk code"
    ]


def test_a_remote_head_naming_a_missing_branch_falls_back_to_the_only_branch(
    tmp_path, workspace, sink
):
    from tests.repos import sh

    bare, work = tmp_path / "odd.git", tmp_path / "odd-work"
    sh("git", "init", "-q", "--bare", "-b", "master", str(bare))  # HEAD -> master
    sh("git", "init", "-q", "-b", "trunk", str(work))
    (work / "version.txt").write_text("trunk\n")
    sh("git", "add", ".", cwd=work)
    sh("git", "commit", "-q", "-m", "on trunk", cwd=work)
    sh("git", "push", "-q", str(bare), "trunk", cwd=work)  # no master at all
    assert run(make_job(f"file://{bare}", stages=[]), workspace, sink) == "Success", sink.lines
    assert version(workspace) == "trunk"
