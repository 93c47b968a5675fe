"""Faults during runs: killed workers, restarted services, silent workers, timeouts, replicas,
cascading deletes and retention. One stack of its own with short limits."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from shared import timefmt
from tests.e2e.conftest import (
    FINISHED,
    Runs,
    pipeline_body,
    project_body,
    read_lines,
    stop_replica,
)
from tests.support import ROOT, StackProcess, pid_alive, queue_column, rabbitmqctl, worker_pid
from tests.waiting import holds_for, line_in, wait_for

RECORD_TIMEOUT = 30


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(
        tmp_path_factory.mktemp("faults") / "data",
        CYCLONE_HEARTBEAT_TIMEOUT="8",  # workers beat every 5 s
        # Well past what the other faults take to be seen: a silent worker is lost up to 14 s
        # after its start (8 s after its second beat), and its start takes seconds on a busy
        # machine; with 12 s the record's timeout could come first.
        CYCLONE_RECORD_TIMEOUT=str(RECORD_TIMEOUT),
        CYCLONE_RECORDS_PER_PIPELINE="3",
        CYCLONE_CLOUD_CALL_TIMEOUT="5",
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def runs(fault_stack: StackProcess, unique: str) -> Iterator[Runs]:
    with fault_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        yield Runs(api, unique)


@pytest.fixture(scope="module")
def db(fault_stack: StackProcess):
    client = MongoClient((fault_stack.data_dir / "mongo-url").read_text().strip())
    yield client.get_default_database()
    client.close()


def test_killed_worker_fails_the_record(runs: Runs, git_repo, drop):
    marker = drop / "started"
    runs.pipeline(pipeline_body("k9", git_repo.url, package=[f"touch {marker}; sleep 30"]))
    rec = runs.start("k9")
    wait_for(marker.exists, 30)
    pid = worker_pid(rec["id"])
    assert pid
    os.kill(pid, signal.SIGKILL)
    final = runs.wait("k9", rec["id"], timeout=20)
    assert final["status"] == "Failed"
    assert "worker exited unexpectedly" in final["errorMessage"]
    assert "signal 9" in final["errorMessage"]


def test_silent_worker_is_declared_lost(runs: Runs, git_repo, drop):
    marker = drop / "started"
    runs.pipeline(pipeline_body("mute", git_repo.url, package=[f"touch {marker}; sleep 30"]))
    rec = runs.start("mute")
    wait_for(marker.exists, 30)
    pid = worker_pid(rec["id"])
    assert pid
    os.kill(pid, signal.SIGSTOP)
    try:
        final = runs.wait("mute", rec["id"], timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert final["status"] == "Failed"
    assert "no heartbeat for 8s" in final["errorMessage"]
    wait_for(lambda: not pid_alive(pid), 10, what="the lost worker was not stopped")


def test_record_past_its_timeout_is_aborted(runs: Runs, git_repo, db):
    """Dispatch stores the record's deadline, CYCLONE_RECORD_TIMEOUT after it; past it the
    reaper aborts the record and stops its worker. The deadline is then brought forward in
    the database rather than waited for (the stack's 30 s suit its other faults)."""
    runs.pipeline(pipeline_body("slow", git_repo.url, package=["sleep 60"]))
    rec = runs.start("slow")

    def package_running() -> dict:
        got = runs.get("slow", rec["id"])
        assert got["stageStatus"].get("package", {}).get("status") == "Running", got
        return db.records.find_one({"_id": ObjectId(rec["id"])})

    stored = wait_for(package_running, 30, "the package stage to run")
    assert stored["timeoutAt"] - stored["dispatchedAt"] == timedelta(seconds=RECORD_TIMEOUT)
    db.records.update_one(
        {"_id": ObjectId(rec["id"]), "status": "Running"},
        {"$set": {"timeoutAt": datetime.now(UTC)}},
    )
    final = runs.wait("slow", rec["id"], timeout=20)
    assert final["status"] == "Aborted"
    assert final["errorMessage"] == f"timed out after {RECORD_TIMEOUT}s"
    wait_for(lambda: worker_pid(rec["id"]) is None, 10)


def restart(stack: StackProcess, service: str) -> None:
    old = stack.pids()[service]
    os.kill(old, signal.SIGTERM)
    wait_for(lambda: stack.pids().get(service) not in (None, old), 20)
    wait_for(lambda: httpx.get(stack.url + "/healthz").status_code == 200, 30)


def test_scheduler_restart_mid_run_loses_nothing(runs: Runs, git_repo, fault_stack, drop):
    marker = drop / "started"
    runs.pipeline(
        pipeline_body("survive", git_repo.url, package=[f"touch {marker}; sleep 3; echo survived"])
    )
    rec = runs.start("survive")
    wait_for(marker.exists, 30)
    restart(fault_stack, "scheduler")
    final = runs.wait("survive", rec["id"], timeout=30)
    assert final["status"] == "Success", final.get("errorMessage")
    # the new scheduler takes the stage's report and the run's end from separate queues
    runs.settled("survive", rec["id"], {"codeCheckout": "Success", "package": "Success"})
    log = runs.log_through("survive", rec["id"], "Stage: Package status: finish")
    assert "survived" in log.splitlines()


def test_logs_restart_mid_run_keeps_every_line(runs: Runs, git_repo, fault_stack, drop):
    marker = drop / "started"
    script = (
        f"touch {marker}; i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); "
        "[ $((i % 500)) -eq 0 ] && sleep 0.5; done; true"
    )
    runs.pipeline(pipeline_body("chatty", git_repo.url, package=[script]))
    rec = runs.start("chatty")
    wait_for(marker.exists, 30)
    # the logs service has stored some lines, and the command is still writing
    wait_for(lambda: "line-0" in runs.log("chatty", rec["id"]).text.splitlines(), 10)
    restart(fault_stack, "logs")
    final = runs.wait("chatty", rec["id"], timeout=60)
    assert final["status"] == "Success", final.get("errorMessage")

    def complete() -> bool:
        lines = runs.log("chatty", rec["id"], stage="package").text.splitlines()
        return [x for x in lines if x.startswith("line-")] == [f"line-{i}" for i in range(3000)]

    wait_for(complete, 20, what="log lines were lost or reordered")


# 50 runs through 4 dispatch slots take minutes on a busy machine: the waits below are bounded
# within this test's own timeout (the default 120 s would end the whole session first).
@pytest.mark.timeout(300)
def test_two_scheduler_replicas_run_each_record_once(runs: Runs, git_repo, fault_stack, drop):
    ledger = drop / "ledger"
    runs.pipeline(
        pipeline_body("once", git_repo.url, package=[f"echo $CYCLONE_RECORD_ID >> {ledger}"])
    )
    replica = subprocess.Popen(
        [sys.executable, "-m", "services.scheduler"],
        cwd=ROOT,
        env=fault_stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ids = [runs.start("once")["id"] for _ in range(50)]
        # Retention (3 per pipeline here) deletes finished records, so the ledger is the proof.
        wait_for(lambda: len(read_lines(ledger)) >= 50, 180)

        def all_ended() -> bool:
            # Retention removes only ended records, beyond the newest 3 ended ones: 3 stored
            # records, all ended, means none still runs.
            listed = runs.api.get(runs.url("once")).json()
            return listed["metadata"]["total"] == 3 and all(
                r["status"] in FINISHED for r in listed["items"]
            )

        wait_for(all_ended, 30, "every record to end")
        holds_for(lambda: len(read_lines(ledger)) == 50, 1, "no second run of a record")
    finally:
        stop_replica(replica)
    assert sorted(read_lines(ledger)) == sorted(ids), "a record ran twice or not at all"
    listed = runs.api.get(runs.url("once")).json()
    assert [r["status"] for r in listed["items"]] == ["Success"] * 3


def test_deleting_a_pipeline_stops_and_deletes_its_records(runs: Runs, git_repo, db, drop):
    marker = drop / "pid"
    runs.pipeline(pipeline_body("doomed", git_repo.url, package=[f"echo $$ > {marker}; sleep 60"]))
    done = runs.run("doomed", stages=["codeCheckout"])
    running = runs.start("doomed")
    sleeper = int(wait_for(line_in(marker), 30))
    # (the logs service stores a finished record's lines a moment after its end)
    wait_for(lambda: db.log_chunks.count_documents({"record_id": done["id"]}) > 0, 10)
    pipeline_id = done["pipelineID"]
    assert runs.api.delete(f"/api/v1/projects/{runs.project}/pipelines/doomed").status_code == 204
    wait_for(lambda: not pid_alive(sleeper), 10, what="the running command was not stopped")
    wait_for(lambda: db.records.count_documents({"pipelineID": pipeline_id}) == 0, 10)
    wait_for(
        lambda: (
            db.log_chunks.count_documents({"record_id": {"$in": [done["id"], running["id"]]}}) == 0
        ),
        10,
    )


def test_retention_keeps_the_newest_finished_records(runs: Runs, git_repo, db):
    runs.pipeline(pipeline_body("kept", git_repo.url, package=["echo x"]))
    ids = [runs.run("kept")["id"] for _ in range(5)]

    def total() -> int:
        return runs.api.get(runs.url("kept")).json()["metadata"]["total"]

    wait_for(lambda: total() == 3, 10)  # retention follows the end, not before it
    listed = runs.api.get(runs.url("kept")).json()
    assert [r["id"] for r in listed["items"]] == ids[::-1][:3]
    wait_for(lambda: db.log_chunks.count_documents({"record_id": {"$in": ids[:2]}}) == 0, 10)
    wait_for(lambda: db.log_chunks.count_documents({"record_id": ids[-1]}) > 0, 10)


def upkeep_passes(url: str) -> tuple[float, float]:
    """(passes of the scheduler's upkeep timer, those that took 2.5 s or more) so far."""
    passes = quick = 0.0
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "cyclone_scheduler_upkeep_seconds_count":
                passes += sample.value
            elif sample.name == "cyclone_scheduler_upkeep_seconds_bucket":
                quick += sample.value if sample.labels["le"] == "2.5" else 0
    return passes, passes - quick


def test_a_hung_cloud_service_fails_the_start_and_does_not_stall_the_scheduler(
    runs: Runs, git_repo, fault_stack, drop
):
    """The cloud service stops answering (SIGSTOP). A POST still answers at once; each start
    is given up after CYCLONE_CLOUD_CALL_TIMEOUT (5 s here, asked twice), the starts side by
    side, not one behind another; and the upkeep timer, which must stop the worker it finds
    lost meanwhile, goes on every second without waiting for the cloud (no pass of 2.5 s or
    more)."""
    marker = drop / "started"
    runs.pipeline(pipeline_body("mute2", git_repo.url, package=[f"touch {marker}; sleep 60"]))
    runs.pipeline(pipeline_body("hung", git_repo.url, package=["echo never"]))
    silent = runs.start("mute2")["id"]
    wait_for(marker.exists, 30)
    worker = worker_pid(silent)
    assert worker
    cloud = fault_stack.pids()["cloud"]
    before = upkeep_passes(fault_stack.url)
    os.kill(cloud, signal.SIGSTOP)
    os.kill(worker, signal.SIGSTOP)
    try:
        hung = [runs.start("hung")["id"] for _ in range(3)]
        answered = timefmt.now()
        for record in hung:
            done = runs.wait("hung", record, timeout=40)
            assert done["status"] == "Failed", done
            assert "did not start a worker within 5s" in done["errorMessage"], done
            given_up = timefmt.parse(done["endTime"])
            assert given_up and given_up > answered, "a POST waited for the cloud service"
        lost = runs.wait("mute2", silent, timeout=40)
        assert "no heartbeat for 8s" in lost["errorMessage"], lost
        after = upkeep_passes(fault_stack.url)
    finally:
        os.kill(cloud, signal.SIGCONT)
        os.kill(worker, signal.SIGCONT)
    passes, slow = after[0] - before[0], after[1] - before[1]
    assert passes >= 8, f"the upkeep timer ran {passes} times while the cloud was hung"
    assert slow == 0, f"{slow} upkeep passes took 2.5 s or more"
    # the stop the scheduler gave up waiting for still reaches the cloud once it answers
    wait_for(lambda: not pid_alive(worker), 20, what="the lost worker was not stopped")


def test_a_start_that_left_no_trace_is_asked_again(runs: Runs, git_repo, fault_stack, db):
    """A record Running with no worker saved and no heartbeat, its start asked long ago: what
    a scheduler that died between asking the cloud and saving the answer leaves, or one whose
    failure could not be stored (the database away). Made here from a finished record, as
    it would be stored; once the cloud call's deadline and a margin have passed (5 + 5 s in
    this stack), a reaper asks the cloud again and the record runs to its end, rather than
    waiting out the worker start timeout (300 s)."""
    runs.pipeline(pipeline_body("lost", git_repo.url, package=["echo started"]))
    done = runs.run("lost")
    assert done["status"] == "Success", done

    def first_worker_gone() -> bool:
        """Its exit seen by the cloud (the worker marked ended) and taken by the scheduler
        (no worker_exited waiting): no late report of the first run comes after this."""
        if not (db.workers.find_one({"_id": done["id"]}) or {}).get("endedAt"):
            return False
        return any(
            name.endswith("handle_worker_exited") and messages == "0"
            for name, messages in queue_column(fault_stack.vhost, "messages").items()
        )

    wait_for(first_worker_gone, 30, "the first worker's exit")
    long_ago = datetime.now(UTC) - timedelta(seconds=60)
    db.records.update_one(
        {"_id": ObjectId(done["id"])},
        {
            "$set": {
                "status": "Running",
                "dispatchedAt": long_ago,
                "launchAt": long_ago,
                "startBy": datetime.now(UTC) + timedelta(seconds=300),
                "timeoutAt": datetime.now(UTC) + timedelta(seconds=RECORD_TIMEOUT),
                "stageStatus": {},
            },
            "$unset": {"worker": "", "heartbeatAt": "", "endTime": "", "exitedAt": ""},
        },
    )
    final = runs.wait("lost", done["id"], timeout=40)
    assert final["status"] == "Success", final.get("errorMessage")
    again = db.records.find_one({"_id": ObjectId(done["id"])})
    naive = long_ago.replace(tzinfo=None)  # as this client reads times back
    assert again["worker"] and again["heartbeatAt"] > naive  # a new worker ran it
    assert again["launchAt"] > naive


def test_a_start_the_broker_refused_leaves_the_record_running_and_is_asked_again(
    runs: Runs, git_repo, fault_stack, db
):
    """The broker refuses the scheduler's call to start the worker: the cloud service's
    queue is made to nack every publish (a policy: at most 0 messages, new ones refused), as
    a quorum queue does while its leader moves, and the call fails as a cut one does
    (runs.CallCut). The call may have reached the cloud service for all the scheduler knows:
    the record stays Running, not Failed, and once the call's deadline and a margin have
    passed (5 + 5 s in this stack), the upkeep asks the cloud again and it runs to its end."""
    runs.pipeline(pipeline_body("refused", git_repo.url, package=["echo built"]))
    policy = f"refuse-{secrets.token_hex(4)}"
    rabbitmqctl(
        "set_policy", "-p", fault_stack.vhost, "--apply-to", "queues", policy, "^rpc-cloud$",
        '{"max-length": 0, "overflow": "reject-publish"}',
    )  # fmt: skip
    try:
        # applied by the queue itself, a moment after set_policy answered
        wait_for(
            lambda: policy in queue_column(fault_stack.vhost, "policy").get("rpc-cloud", ""), 20
        )
        rec = runs.start("refused")
        cut = f"the call starting the worker of {rec['id']} was cut"
        wait_for(lambda: cut in fault_stack.log_path.read_text(errors="replace"), 20, cut)
        held = db.records.find_one({"_id": ObjectId(rec["id"])})
        assert held["status"] == "Running" and not held.get("worker"), held
    finally:
        rabbitmqctl("clear_policy", "-p", fault_stack.vhost, policy)
    final = runs.wait("refused", rec["id"], timeout=40)
    assert final["status"] == "Success", final.get("errorMessage")
    again = db.records.find_one({"_id": ObjectId(rec["id"])})
    assert again["worker"] and again["launchAt"] > held["launchAt"]  # asked again, later
