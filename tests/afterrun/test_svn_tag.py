"""createScmTag on Subversion, end to end: `svn copy` of the revision the run checked out."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import Runs, pipeline_body
from tests.repos import make_svn_repo
from tests.waiting import wait_for


def svn_ls(url: str) -> list[str]:
    done = subprocess.run(["svn", "ls", url], capture_output=True, text=True, check=False)
    return [line.rstrip("/") for line in done.stdout.split()] if done.returncode == 0 else []


def test_a_successful_svn_run_is_tagged_and_a_failed_one_is_not(api, unique, tmp_path):
    repo = make_svn_repo(tmp_path)
    project = {
        "name": unique,
        "scm": {"type": "SVN", "server": repo.url, "username": "bot", "password": "pw"},
    }
    assert api.post("/api/v1/projects", json=project).status_code == 201
    runs = Runs(api, unique)
    runs.pipeline(pipeline_body("ok", repo.url + "/trunk", source="svn", package=["true"]))
    runs.pipeline(pipeline_body("bad", repo.url + "/trunk", source="svn", package=["exit 1"]))
    # Named: generated names (commit + second) of two runs in the same second are the same.
    bad = runs.run("bad", ref="1", createScmTag=True, name="bad-run")
    assert bad["status"] == "Failed"
    ok = runs.run("ok", ref="1", createScmTag=True, name="ok-run")
    assert ok["status"] == "Success", ok
    tags = repo.url + "/tags"
    wait_for(lambda: ok["name"] in svn_ls(tags), 20)
    assert svn_ls(f"{tags}/{ok['name']}") == ["version.txt"]
    cat = subprocess.run(
        ["svn", "cat", f"{tags}/{ok['name']}/version.txt"], capture_output=True, text=True
    )
    assert cat.stdout == "r1\n"  # the checked-out revision, not HEAD
    assert bad["name"] not in svn_ls(tags)
