"""Subversion end to end: the spec's post-commit hook script calls the running gateway."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.repos import make_svn_repo
from tests.waiting import wait_for

# The spec's hook script (docs/api.md, "SVN post-commit hook"), with the pipeline's secret.
HOOK = """#!/bin/sh
PATH=/usr/bin:/bin
REPOS="$1"
REV="$2"
TXN_NAME="$3"

UUID=`svnlook uuid $REPOS`

/usr/bin/curl --request POST --header "Content-Type:text/plain;charset=UTF-8" \\
  --header "X-Cyclone-Secret: {secret}" \\
  --data "`svnlook changed --revision $REV $REPOS`" \\
  {address}/api/v1/subversion/$UUID/postcommithook?revision=$REV > {log} 2>&1
"""
GIVEN_SECRET = "svn-hook-secret-0123456789"


def svn(*args: str) -> str:
    return subprocess.run(["svn", *args], check=True, capture_output=True, text=True).stdout


def trunk_pipeline(repo_url: str, secret: str | None = None) -> dict:
    body = pipeline_body("trunk", repo_url + "/trunk", source="svn", package=["cat version.txt"])
    trigger: dict = {"postCommit": {"stages": ["package"]}}
    if secret is not None:
        trigger["webhookSecret"] = secret
    body["autoTrigger"] = {"scmTrigger": trigger}
    return body


def post_hook(stack, repo_uuid: str, revision, secret: str | None, changed: str = "U   trunk/v\n"):
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if secret is not None:
        headers["X-Cyclone-Secret"] = secret
    return httpx.post(
        f"{stack.url}/api/v1/subversion/{repo_uuid}/postcommithook",
        params={} if revision is None else {"revision": revision},
        content=changed,
        headers=headers,
    )


def total(runs: Runs) -> int:
    return runs.api.get(runs.url("trunk")).json()["metadata"]["total"]


def test_a_commit_runs_the_pipeline_at_that_revision(stack, api, unique, tmp_path):
    repo = make_svn_repo(tmp_path)
    assert api.post("/api/v1/projects", json=project_body(unique, "SVN")).status_code == 201
    runs = Runs(api, unique)
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=trunk_pipeline(repo.url))
    assert resp.status_code == 201, resp.text
    trigger = resp.json()["autoTrigger"]["scmTrigger"]
    assert trigger["postCommit"]["repoInfo"] == {"id": repo.uuid, "rootURL": repo.url}
    secret = trigger["webhookSecret"]  # generated, shown in this answer only
    assert secret != "******" and len(secret) >= 32
    assert resp.headers["cache-control"] == "no-store"
    got = api.get(f"/api/v1/projects/{unique}/pipelines/trunk").json()
    assert got["autoTrigger"]["scmTrigger"]["webhookSecret"] == "******"

    hook_log = tmp_path / "hook.log"
    hook = repo.path / "hooks" / "post-commit"
    script = HOOK.replace("{address}", stack.url).replace("{log}", str(hook_log))
    hook.write_text(script.replace("{secret}", secret))
    hook.chmod(0o755)
    wc = tmp_path / "wc"
    svn("checkout", "-q", repo.url, str(wc))
    (wc / "trunk" / "version.txt").write_text("r3\n")
    svn("commit", "-q", "-m", "third revision", str(wc))  # runs the hook
    wait_for(lambda: total(runs) == 1, 20, "1 run")
    rec = runs.api.get(runs.url("trunk")).json()["items"][0]
    assert rec["trigger"] == "scmTrigger" and rec["performParams"]["ref"] == "3"
    done = runs.wait("trunk", rec["id"])
    assert done["status"] == "Success", done
    done = runs.settled("trunk", rec["id"], {"codeCheckout": "Success", "package": "Success"})
    assert done["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == "3"
    log = runs.log_through("trunk", rec["id"], "Stage: Package status: finish", stage="package")
    assert "r3" in log.splitlines()
    assert '"record"' in hook_log.read_text()

    # A commit outside trunk does not concern this pipeline.
    (wc / "branches").mkdir()
    svn("add", "-q", str(wc / "branches"))
    svn("commit", "-q", "-m", "a branches folder", str(wc))
    wait_for(lambda: "no change under /trunk" in hook_log.read_text(), 20)
    assert total(runs) == 1

    # The hook of the spec as written (no secret) starts nothing: 401.
    hook.write_text(script.replace('  --header "X-Cyclone-Secret: {secret}" \\\n', ""))
    (wc / "trunk" / "version.txt").write_text("r5\n")
    svn("commit", "-q", "-m", "fifth revision", str(wc))
    wait_for(lambda: "X-Cyclone-Secret" in hook_log.read_text(), 20, "the hook's 401")
    assert '"Unauthorized"' in hook_log.read_text()
    assert total(runs) == 1


def test_only_the_pipelines_secret_starts_it_and_a_revision_runs_once(stack, api, unique, svn_repo):
    assert api.post("/api/v1/projects", json=project_body(unique, "SVN")).status_code == 201
    runs = Runs(api, unique)
    body = trunk_pipeline(svn_repo.url, GIVEN_SECRET)
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["autoTrigger"]["scmTrigger"]["webhookSecret"] == "******"  # given: kept
    pid = resp.json()["id"]

    for secret in (None, "", "wrong-secret-0123456789", GIVEN_SECRET + "x", GIVEN_SECRET[:-1]):
        refused = post_hook(stack, svn_repo.uuid, 2, secret)
        assert refused.status_code == 401, (secret, refused.text)
        assert refused.json()["reason"] == "Unauthorized"
        assert "X-Cyclone-Secret" in refused.json()["message"]
    # A repository no pipeline triggers on: 401 too (nothing says whether it is known).
    assert post_hook(stack, "0b1e2c3d-unknown", 2, GIVEN_SECRET).status_code == 401
    assert total(runs) == 0

    first = post_hook(stack, svn_repo.uuid, 2, GIVEN_SECRET)
    assert first.status_code == 200, first.text
    (started,) = first.json()["started"]
    assert started == {"pipeline": "trunk", "project": unique, "record": started["record"]}
    again = post_hook(stack, svn_repo.uuid, 2, GIVEN_SECRET)
    assert again.status_code == 200 and again.json()["started"] == []
    (skipped,) = again.json()["skipped"]
    assert skipped["reason"] == f"revision 2 already started record {started['record']}"
    assert total(runs) == 1
    rec = runs.get("trunk", started["record"])
    assert rec["trigger"] == "scmTrigger" and rec["performParams"]["ref"] == "2"

    # The same revision posted at once by many hooks, through both gateway processes.
    barrier = threading.Barrier(8)

    def post(_: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return post_hook(stack, svn_repo.uuid, 1, GIVEN_SECRET)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sum(len(a.json()["started"]) for a in answers) == 1, [a.json() for a in answers]
    assert total(runs) == 2

    # The stored secret survives a GET-then-PUT; "" makes a new one, shown once.
    got = api.get(f"/api/v1/projects/{unique}/pipelines/trunk").json()
    put = api.put(f"/api/v1/projects/{unique}/pipelines/trunk", json=got)
    assert put.status_code == 200 and put.json()["id"] == pid
    assert put.json()["autoTrigger"]["scmTrigger"]["webhookSecret"] == "******"
    outside = "U   branches/x\n"  # concerns no trunk pipeline: answered, nothing runs
    kept = post_hook(stack, svn_repo.uuid, 3, GIVEN_SECRET, outside)
    assert kept.status_code == 200 and "no change under /trunk" in kept.text
    got["autoTrigger"]["scmTrigger"]["webhookSecret"] = ""
    put = api.put(f"/api/v1/projects/{unique}/pipelines/trunk", json=got)
    new_secret = put.json()["autoTrigger"]["scmTrigger"]["webhookSecret"]
    assert new_secret not in ("******", GIVEN_SECRET) and len(new_secret) >= 32
    assert post_hook(stack, svn_repo.uuid, 3, GIVEN_SECRET, outside).status_code == 401
    assert post_hook(stack, svn_repo.uuid, 3, new_secret, outside).status_code == 200
    assert total(runs) == 2


def test_hook_requests_are_checked(stack, api, unique, svn_repo):
    resp = post_hook(stack, "some-uuid", 4, None)
    assert resp.status_code == 401 and "X-Cyclone-Secret" in resp.json()["message"]
    resp = post_hook(stack, "some-uuid", None, "s" * 20)
    assert resp.status_code == 400 and "revision" in resp.json()["message"]
    resp = post_hook(stack, "some-uuid", "x", "s" * 20)
    assert resp.status_code == 400
    resp = post_hook(stack, "some-uuid", 4, "s" * 20)
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"

    # A postCommit secret is an HTTP header value of at least 16 characters.
    assert api.post("/api/v1/projects", json=project_body(unique, "SVN")).status_code == 201
    for bad in ("short", " padded-secret-0123456789", "secret-with-é-0123456789"):
        resp = api.post(
            f"/api/v1/projects/{unique}/pipelines", json=trunk_pipeline(svn_repo.url, bad)
        )
        assert resp.status_code == 400, resp.text
        assert resp.json()["details"][0]["field"] == "autoTrigger.scmTrigger.webhookSecret"
        assert bad not in resp.text  # a secret is never echoed


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
