"""Records that really execute on the Local cloud, driven over HTTP."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from bson import ObjectId
from nameko.standalone.rpc import ClusterRpcProxy

from services.cloud.backends.hostworkers import START_LOCK
from tests.e2e.conftest import Runs, pipeline_body
from tests.waiting import holds_for, line_in, wait_for

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BOTH_OK = {"codeCheckout": "Success", "package": "Success"}


def package_log(runs: Runs, pipeline: str, record: str) -> str:
    """The package stage's log once all of it is stored (a 404 while the record does not list
    the stage yet, its report being on its way, is waited out too)."""
    return runs.log_through(pipeline, record, "Stage: Package status: finish", stage="package")


def test_branch_run_succeeds_with_commit_info_and_ordered_log(runs: Runs, git_repo):
    runs.pipeline(
        pipeline_body(
            "app",
            git_repo.url,
            unit=["echo unit $GREETING", "test -f version.txt"],
            package=["sh build.sh", "echo done >&2"],
            outputs=["bin/app"],
            env=[{"name": "GREETING", "value": "hello"}],
        )
    )
    rec = runs.run("app", ref="main", name="v1.2.3", description="first run")
    assert rec["status"] == "Success", rec
    every = {"codeCheckout": "Success", "unitTest": "Success", "package": "Success"}
    rec = runs.settled("app", rec["id"], every)
    assert rec["name"] == "v1.2.3" and rec["performParams"]["description"] == "first run"
    assert TIME_RE.match(rec["startTime"]) and TIME_RE.match(rec["endTime"])
    checkout = rec["stageStatus"]["codeCheckout"]
    assert checkout["status"] == "Success" and TIME_RE.match(checkout["startTime"])
    commit = checkout["commits"]["mainRepo"]
    assert commit["ID"] == git_repo.main_sha and commit["Author"] == "Ada Tester"
    assert commit["Message"] == "second version\n\nwith a body" and commit["Date"]
    assert rec["stageStatus"]["package"]["outputs"] == ["bin/app"]
    text = runs.log_through("app", rec["id"], "Stage: Package status: finish")
    lines = text.splitlines()
    expected_order = [
        "Stage: Code checkout status: start",
        "Stage: Code checkout status: finish",
        "Stage: Unit test status: start",
        "$ echo unit $GREETING",
        "unit hello",
        "$ test -f version.txt",
        "Stage: Unit test status: finish",
        "Stage: Package status: start",
        "$ sh build.sh",
        "building v2",
        "$ echo done >&2",
        "done",
        "Stage: Package status: finish",
    ]
    positions = [lines.index(line) for line in expected_order]
    assert positions == sorted(positions), text
    assert "scm-secret-token" not in text


@pytest.mark.parametrize(
    ("ref", "attr", "content"),
    [
        ("feature", "feature_sha", "feature"),
        ("refs/heads/feature", "feature_sha", "feature"),
        ("v1.0", "first_sha", "v1"),
        ("refs/tags/v1.0", "first_sha", "v1"),
        ("sha", "first_sha", "v1"),
    ],
)
def test_checkout_by_branch_tag_and_sha(runs: Runs, git_repo, ref, attr, content):
    runs.pipeline(pipeline_body("refs", git_repo.url, package=["cat version.txt"]))
    expected = getattr(git_repo, attr)
    rec = runs.run("refs", ref=expected if ref == "sha" else ref)
    assert rec["status"] == "Success", rec
    rec = runs.settled("refs", rec["id"], BOTH_OK)
    assert rec["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == expected
    assert content in package_log(runs, "refs", rec["id"]).splitlines()
    if ref != "sha":  # no name given: generated from the commit and the time
        assert re.fullmatch(rf"{expected[:7]}-\d{{12}}", rec["name"]), rec["name"]


def test_svn_checkout_at_revision_and_head(runs: Runs, svn_repo):
    runs.pipeline(
        pipeline_body("svnapp", svn_repo.url + "/trunk", source="svn", package=["cat version.txt"])
    )
    head = runs.run("svnapp", ref="HEAD")
    assert head["status"] == "Success", head
    head = runs.settled("svnapp", head["id"], BOTH_OK)
    assert head["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == "2"
    assert "r2" in package_log(runs, "svnapp", head["id"]).splitlines()
    old = runs.run("svnapp", ref="1")
    assert old["status"] == "Success", old
    runs.settled("svnapp", old["id"], BOTH_OK)
    assert "r1" in package_log(runs, "svnapp", old["id"]).splitlines()


def test_failing_command_fails_the_run_and_stops_later_commands(runs: Runs, git_repo):
    runs.pipeline(
        pipeline_body(
            "fails",
            git_repo.url,
            unit=["echo before", "exit 3", "echo never"],
            package=["echo never-packaged"],
        )
    )
    rec = runs.run("fails")
    assert rec["status"] == "Failed"
    assert "exit 3" in rec["errorMessage"] and "3" in rec["errorMessage"]
    # unitTest Failed, and no package stage: it never started
    runs.settled("fails", rec["id"], {"codeCheckout": "Success", "unitTest": "Failed"})
    text = runs.log_through("fails", rec["id"], "Stage: Unit test status: fail with error:")
    assert "before" in text and "never" not in text
    assert runs.log("fails", rec["id"], stage="package").status_code == 404


def test_bad_ref_fails_at_checkout(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("badref", git_repo.url, package=["echo x"]))
    rec = runs.run("badref", ref="no-such-branch")
    assert rec["status"] == "Failed"
    assert "no-such-branch" in rec["errorMessage"]
    runs.settled("badref", rec["id"], {"codeCheckout": "Failed"})
    runs.log_through("badref", rec["id"], "Stage: Code checkout status: fail with error:")


def test_stage_selection(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("select", git_repo.url, unit=["echo unit"], package=["echo pkg"]))
    rec = runs.run("select", stages=["package"])
    assert rec["status"] == "Success"
    runs.settled("select", rec["id"], BOTH_OK)  # and no unitTest
    assert runs.log("select", rec["id"], stage="unitTest").status_code == 404
    resp = runs.api.post(runs.url("select"), json={"ref": "main", "stages": ["imageBuild"]})
    assert resp.status_code == 400 and "imageBuild" in resp.json()["message"]
    resp = runs.api.post(runs.url("select"), json={"ref": "main", "stages": ["deploy"]})
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ref": ""},
        {"ref": 5},
        {"ref": "main", "name": "Bad Name"},
        {"ref": "main", "description": "x" * 101},
        {"ref": "main", "stages": "package"},
        {"ref": "main", "extra": 1},
        {"ref": "main", "createScmTag": "yes"},
    ],
)
def test_invalid_record_requests(runs: Runs, git_repo, body):
    runs.pipeline(pipeline_body("valid", git_repo.url, package=["echo x"]))
    resp = runs.api.post(runs.url("valid"), json=body)
    assert resp.status_code == 400, resp.text
    assert runs.api.get(runs.url("valid")).json()["metadata"]["total"] == 0


def test_abort_a_running_command(runs: Runs, git_repo, drop):
    marker = drop / "sleeper.pid"
    runs.pipeline(pipeline_body("slow", git_repo.url, package=[f"echo $$ > {marker}; sleep 60"]))
    rec = runs.start("slow")
    pid = int(wait_for(line_in(marker), 30))
    started = time.monotonic()
    resp = runs.api.patch(runs.url("slow", rec["id"], "/status"), json={"status": "Aborted"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "Aborted"
    wait_for(lambda: not _alive(pid), 5, what="the command survived the abort")
    assert time.monotonic() - started < 6
    final = runs.wait("slow", rec["id"])
    assert final["status"] == "Aborted"
    runs.settled("slow", rec["id"], {"codeCheckout": "Success", "package": "Aborted"})
    again = runs.api.patch(runs.url("slow", rec["id"], "/status"), json={"status": "Aborted"})
    assert again.status_code == 409
    bad = runs.api.patch(runs.url("slow", rec["id"], "/status"), json={"status": "Running"})
    assert bad.status_code == 400


def test_a_record_aborted_while_its_worker_starts_is_not_built(
    runs: Runs, git_repo, drop, stack, db
):
    """The abort's stop comes while the start waits (for the host's start lock, held here as
    another replica's start would hold it): there is no worker to stop yet. The worker then
    starts with its job handed, and is stopped once its start is answered, its build cut
    short: it does not run to its end."""
    built = drop / "built"
    runs.pipeline(pipeline_body("held", git_repo.url, package=[f"sleep 4; touch {built}"]))
    workspaces = Path(stack.env["CYCLONE_WORKSPACES"])
    lock = os.open(workspaces / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rec = runs.start("held")
        dispatched = {"_id": ObjectId(rec["id"]), "status": "Running"}  # (shown as Pending)
        wait_for(lambda: db.records.find_one(dispatched, {"_id": 1}), 10)
        resp = runs.api.patch(runs.url("held", rec["id"], "/status"), json={"status": "Aborted"})
        assert resp.status_code == 200, resp.text
        # The abort's stop reaches the cloud service and finds no worker while the lock is
        # held (were it slower, it would stop the worker itself, and the test would prove
        # less, not fail).
        time.sleep(1.0)
    finally:
        os.close(lock)
    final = runs.wait("held", rec["id"])
    assert final["status"] == "Aborted"
    holds_for(lambda: not built.exists(), 8, "the aborted record's build not running to its end")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_twelve_records_at_once_all_finish(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("many", git_repo.url, package=["echo run $CYCLONE_RECORD_ID"]))

    def start(_: int) -> tuple[dict, float]:
        began = time.monotonic()
        return runs.start("many"), time.monotonic() - began

    with ThreadPoolExecutor(12) as pool:
        timed = list(pool.map(start, range(12)))
    finished = [runs.wait("many", r["id"], timeout=120) for r, _ in timed]
    assert [r["status"] for r in finished] == ["Success"] * 12
    listed = runs.api.get(runs.url("many"), params={"limit": 5}).json()
    assert listed["metadata"]["total"] == 12 and len(listed["items"]) == 5
    # Newest first in creation order (the sequence number a creation takes after it read the
    # clock for startTime): of two overlapping creations the later-numbered one may have read
    # the clock first, by less than its creation took (longer than 0.1 s on a busy machine).
    slowest = max(took for _, took in timed)
    starts = [
        datetime.fromisoformat(r["startTime"].replace("Z", "+00:00")) for r in listed["items"]
    ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap < slowest for gap in gaps), (gaps, slowest)


def test_logs_download_and_errors(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("logs", git_repo.url, package=["echo hello"]))
    rec = runs.run("logs")
    pkg = package_log(runs, "logs", rec["id"]).splitlines()
    assert pkg == [
        "Stage: Package status: start",
        "$ echo hello",
        "hello",
        "Stage: Package status: finish",
    ]
    resp = runs.log("logs", rec["id"], download="true")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="{runs.project}-logs-{rec["id"]}-log.txt"'
    )
    assert resp.text.splitlines()[-len(pkg) :] == pkg
    assert runs.log("logs", rec["id"], stage="bogus").status_code == 400
    assert runs.log("logs", "0" * 24).status_code == 404
    assert runs.log("logs", "not-an-id").status_code == 404


def test_records_api_shapes_and_delete(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("crud", git_repo.url, package=["echo x"]))
    rec = runs.run("crud")
    assert set(rec) >= {
        "id",
        "name",
        "pipelineID",
        "trigger",
        "performParams",
        "stageStatus",
        "status",
        "startTime",
        "endTime",
    }
    assert "snapshot" not in rec and rec["trigger"] == "user"
    other = pipeline_body("other", "file:///nowhere", package=["echo x"])
    runs.pipeline(other)
    assert runs.api.get(runs.url("other", rec["id"])).status_code == 404
    assert runs.api.delete(runs.url("crud", rec["id"])).status_code == 204
    assert runs.api.get(runs.url("crud", rec["id"])).status_code == 404
    assert runs.log("crud", rec["id"]).status_code == 404
    assert runs.api.delete(runs.url("crud", rec["id"])).status_code == 404


def test_recent_records_in_pipeline_list(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("ok", git_repo.url, package=["echo x"]))
    runs.pipeline(pipeline_body("ko", git_repo.url, package=["false"]))
    good = [runs.run("ok")["id"] for _ in range(2)]
    bad = runs.run("ko")["id"]
    listed = runs.api.get(
        f"/api/v1/projects/{runs.project}/pipelines",
        params={"recentCount": 1, "recentSuccessCount": 5, "recentFailedCount": 5},
    ).json()
    by_name = {p["name"]: p for p in listed["items"]}
    assert [r["id"] for r in by_name["ok"]["recentRecords"]] == [good[1]]
    assert [r["id"] for r in by_name["ok"]["recentSuccessRecords"]] == good[::-1]
    assert by_name["ok"]["recentFailedRecords"] == []
    assert [r["id"] for r in by_name["ko"]["recentFailedRecords"]] == [bad]


def test_stats_add_up(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("s1", git_repo.url, package=["echo x"]))
    runs.pipeline(pipeline_body("s2", git_repo.url, package=["exit 1"]))
    for _ in range(3):
        runs.run("s1")
    runs.run("s2")
    now = int(time.time())  # after every start: endTime = now covers them, in 4 days exactly
    base = f"/api/v1/projects/{runs.project}"
    params = {"startTime": now - 3 * 86400, "endTime": now}

    def stats(path: str) -> dict:
        return runs.api.get(base + path, params=params).json()

    # The scheduler counts a run's end just after it saves the end status the runs waited for.
    counted = {"total": 4, "success": 3, "failed": 1, "aborted": 0, "successRatio": "75.00%"}
    wait_for(lambda: stats("/stats")["overview"] == counted, 10, "the project's counts")
    project = stats("/stats")
    assert len(project["details"]) == 4
    assert project["details"][-1]["timestamp"] == now - now % 86400
    # summed over the days: the runs may straddle a UTC midnight
    summed = {k: sum(day[k] for day in project["details"]) for k in ("success", "failed")}
    assert summed == {"success": 3, "failed": 1}
    s1 = {"total": 3, "success": 3, "failed": 0, "aborted": 0, "successRatio": "100.00%"}
    wait_for(lambda: stats("/pipelines/s1/stats")["overview"] == s1, 10, "the pipeline's counts")
    # A record a user deletes leaves the stats; the rest still add up.
    victim = runs.api.get(runs.url("s1")).json()["items"][0]["id"]
    assert runs.api.delete(runs.url("s1", victim)).status_code == 204
    after = runs.api.get(base + "/stats", params=params).json()["overview"]
    assert after == {"total": 3, "success": 2, "failed": 1, "aborted": 0, "successRatio": "66.67%"}
    for bad in (
        {},
        {"startTime": 5},
        {"startTime": "x", "endTime": 5},
        {"startTime": 10, "endTime": 5},
    ):
        resp = runs.api.get(base + "/stats", params=bad)
        assert resp.status_code == 400 and resp.json()["reason"] == "BadRequest", bad
    assert runs.api.get("/api/v1/projects/nope/stats", params=params).status_code == 404


def test_create_record_delivered_twice_makes_one_record(stack, runs: Runs, git_repo):
    """The scheduler that took a create_record may die after storing the record and before
    answering; RabbitMQ then delivers the call again. The gateway's request key makes the
    second delivery answer the first one's record."""
    runs.pipeline(pipeline_body("once", git_repo.url, package=["echo once"]))
    project = runs.api.get(f"/api/v1/projects/{runs.project}").json()
    pipeline = runs.api.get(f"/api/v1/projects/{runs.project}/pipelines/once").json()
    request = {
        "project": project,
        "pipeline": pipeline,
        "params": {"ref": "main"},
        "trigger": "user",
        "owner": "",
        "key": uuid.uuid4().hex,
    }
    config = {"AMQP_URI": stack.amqp_uri, "serializer": "json"}
    with ClusterRpcProxy(config, timeout=10) as rpc:
        first = rpc.scheduler.create_record(request)
        again = rpc.scheduler.create_record(request)
        other = rpc.scheduler.create_record({**request, "key": uuid.uuid4().hex})
    assert again["id"] == first["id"] and other["id"] != first["id"]
    listed = runs.api.get(runs.url("once")).json()
    assert sorted(r["id"] for r in listed["items"]) == sorted([first["id"], other["id"]])


def test_a_post_retried_with_its_idempotency_key_starts_one_run(runs: Runs, git_repo):
    """A client whose POST timed out or got a 503 cannot know whether the run started; sent
    again with the same Idempotency-Key, it gets the record the first one made."""
    runs.pipeline(pipeline_body("keyed", git_repo.url, package=["echo keyed"]))
    runs.pipeline(pipeline_body("other", git_repo.url, package=["echo other"]))
    key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    first = runs.api.post(runs.url("keyed"), json={"ref": "main"}, headers=key)
    again = runs.api.post(runs.url("keyed"), json={"ref": "main"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    # the key is the pipeline's own: the same one elsewhere starts that pipeline's run
    elsewhere = runs.api.post(runs.url("other"), json={"ref": "main"}, headers=key)
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]
    unkeyed = [runs.start("keyed")["id"] for _ in range(2)]
    assert len(set(unkeyed)) == 2
    listed = runs.api.get(runs.url("keyed")).json()
    assert sorted(r["id"] for r in listed["items"]) == sorted([first.json()["id"], *unkeyed])
    for bad in ("", "x" * 201, "tab\there", "é"):
        resp = runs.api.post(
            runs.url("keyed"), json={"ref": "main"}, headers={"Idempotency-Key": bad.encode()}
        )
        assert resp.status_code == 400 and "Idempotency-Key" in resp.json()["message"], bad
    assert runs.api.get(runs.url("keyed")).json()["metadata"]["total"] == 3


def test_a_local_build_runs_at_the_workers_niceness_and_its_session_weighs_less(
    runs: Runs, git_repo
):
    """A build that uses every core must not starve the services (bench/busyhost.py): its
    commands run at CYCLONE_WORKER_NICE (10), and so does its session's scheduling group."""
    runs.pipeline(
        pipeline_body(
            "nice",
            git_repo.url,
            package=["echo niceness=$(nice)", "cat /proc/self/autogroup || true"],
        )
    )
    rec = runs.run("nice")
    assert rec["status"] == "Success", rec
    lines = package_log(runs, "nice", rec["id"]).splitlines()
    assert "niceness=10" in lines
    if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1":
        assert any(line.startswith("/autogroup-") and line.endswith(" nice 10") for line in lines)
