"""Subversion end to end: the spec's post-commit hook script calls the running gateway."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import Runs, pipeline_body, project_body, until
from tests.e2e.repos import make_svn_repo

HOOK = """#!/bin/sh
PATH=/usr/bin:/bin
REPOS="$1"
REV="$2"
TXN_NAME="$3"

UUID=`svnlook uuid $REPOS`

/usr/bin/curl --request POST --header "Content-Type:text/plain;charset=UTF-8" \\
  --data "`svnlook changed --revision $REV $REPOS`" \\
  {address}/api/v1/subversion/$UUID/postcommithook?revision=$REV > {log} 2>&1
"""


def svn(*args: str) -> str:
    return subprocess.run(["svn", *args], check=True, capture_output=True, text=True).stdout


def test_a_commit_runs_the_pipeline_at_that_revision(stack, api, unique, tmp_path):
    repo = make_svn_repo(tmp_path)
    hook_log = tmp_path / "hook.log"
    hook = repo.path / "hooks" / "post-commit"
    hook.write_text(HOOK.replace("{address}", stack.url).replace("{log}", str(hook_log)))
    hook.chmod(0o755)
    assert api.post("/api/v1/projects", json=project_body(unique, "SVN")).status_code == 201
    runs = Runs(api, unique)
    body = pipeline_body("trunk", repo.url + "/trunk", source="svn", package=["cat version.txt"])
    body["autoTrigger"] = {"scmTrigger": {"postCommit": {"stages": ["package"]}}}
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 201, resp.text
    info = resp.json()["autoTrigger"]["scmTrigger"]["postCommit"]["repoInfo"]
    assert info == {"id": repo.uuid, "rootURL": repo.url}

    wc = tmp_path / "wc"
    svn("checkout", "-q", repo.url, str(wc))
    (wc / "trunk" / "version.txt").write_text("r3\n")
    svn("commit", "-q", "-m", "third revision", str(wc))  # runs the hook
    assert until(lambda: runs.api.get(runs.url("trunk")).json()["metadata"]["total"] == 1, 20), (
        hook_log.read_text() if hook_log.exists() else "the hook did not run"
    )
    rec = runs.api.get(runs.url("trunk")).json()["items"][0]
    assert rec["trigger"] == "scmTrigger" and rec["performParams"]["ref"] == "3"
    done = runs.wait("trunk", rec["id"])
    assert done["status"] == "Success", done
    assert done["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == "3"
    assert "r3" in runs.log("trunk", rec["id"], stage="package").text.splitlines()
    assert '"record"' in hook_log.read_text()

    # A commit outside trunk does not concern this pipeline.
    (wc / "branches").mkdir()
    svn("add", "-q", str(wc / "branches"))
    svn("commit", "-q", "-m", "a branches folder", str(wc))
    assert until(lambda: "no change under /trunk" in hook_log.read_text(), 20)
    assert runs.api.get(runs.url("trunk")).json()["metadata"]["total"] == 1


def test_hook_requests_are_checked(stack, api):
    import httpx

    anon = httpx.Client(base_url=stack.url)
    resp = anon.post("/api/v1/subversion/some-uuid/postcommithook", content="U   a\n")
    assert resp.status_code == 400 and "revision" in resp.json()["message"]
    resp = anon.post("/api/v1/subversion/some-uuid/postcommithook?revision=x", content="")
    assert resp.status_code == 400
    resp = anon.post("/api/v1/subversion/some-uuid/postcommithook?revision=4", content="U   a\n")
    assert resp.status_code == 200 and resp.json()["started"] == []
    assert "no pipeline" in resp.json()["message"]


def test_post_commit_needs_an_svn_repository(api, unique, git_repo):
    api.post("/api/v1/projects", json=project_body(unique))
    body = pipeline_body("git", git_repo.url, package=["true"])
    body["autoTrigger"] = {"scmTrigger": {"postCommit": {"stages": []}}}
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 400 and "SVN" in resp.json()["message"]
    body = pipeline_body("svn", "file:///no/such/repo", source="svn", package=["true"])
    body["autoTrigger"] = {"scmTrigger": {"postCommit": {}}}
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 400 and "cannot read svn repository" in resp.json()["message"]
