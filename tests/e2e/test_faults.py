"""Faults during runs: killed workers, restarted services, silent workers, timeouts, replicas,
cascading deletes and retention. One stack of its own with short limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from tests.e2e.conftest import Runs, pipeline_body, project_body, read_lines, until
from tests.support import ROOT, StackProcess, pid_alive


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(
        tmp_path_factory.mktemp("faults") / "data",
        CYCLONE_HEARTBEAT_TIMEOUT="8",  # workers beat every 5 s
        CYCLONE_RECORD_TIMEOUT="12",
        CYCLONE_RECORDS_PER_PIPELINE="3",
    ).start()
    yield proc
    proc.stop()


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


def worker_pid(record_id: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"services.worker" in cmd and record_id.encode() in cmd:
            return int(entry.name)
    return None


def test_killed_worker_fails_the_record(runs: Runs, git_repo, tmp_path):
    marker = tmp_path / "started"
    runs.pipeline(pipeline_body("k9", git_repo.url, package=[f"touch {marker}; sleep 30"]))
    rec = runs.start("k9")
    assert until(marker.exists, 30)
    pid = worker_pid(rec["id"])
    assert pid
    os.kill(pid, signal.SIGKILL)
    final = runs.wait("k9", rec["id"], timeout=20)
    assert final["status"] == "Failed"
    assert "worker exited unexpectedly" in final["errorMessage"]
    assert "signal 9" in final["errorMessage"]


def test_silent_worker_is_declared_lost(runs: Runs, git_repo, tmp_path):
    marker = tmp_path / "started"
    runs.pipeline(pipeline_body("mute", git_repo.url, package=[f"touch {marker}; sleep 30"]))
    rec = runs.start("mute")
    assert until(marker.exists, 30)
    pid = worker_pid(rec["id"])
    assert pid
    os.kill(pid, signal.SIGSTOP)
    try:
        final = runs.wait("mute", rec["id"], timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert final["status"] == "Failed"
    assert "no heartbeat for 8s" in final["errorMessage"]
    assert until(lambda: not pid_alive(pid), 10), "the lost worker was not stopped"


def test_record_past_its_timeout_is_aborted(runs: Runs, git_repo):
    runs.pipeline(pipeline_body("slow", git_repo.url, package=["sleep 60"]))
    rec = runs.start("slow")
    final = runs.wait("slow", rec["id"], timeout=30)
    assert final["status"] == "Aborted"
    assert final["errorMessage"] == "timed out after 12s"
    assert until(lambda: worker_pid(rec["id"]) is None, 10)


def restart(stack: StackProcess, service: str) -> None:
    old = stack.pids()[service]
    os.kill(old, signal.SIGTERM)
    assert until(lambda: stack.pids().get(service) not in (None, old), 20)
    assert until(lambda: httpx.get(stack.url + "/healthz").status_code == 200, 30)


def test_scheduler_restart_mid_run_loses_nothing(runs: Runs, git_repo, fault_stack, tmp_path):
    marker = tmp_path / "started"
    runs.pipeline(
        pipeline_body("survive", git_repo.url, package=[f"touch {marker}; sleep 3; echo survived"])
    )
    rec = runs.start("survive")
    assert until(marker.exists, 30)
    restart(fault_stack, "scheduler")
    final = runs.wait("survive", rec["id"], timeout=30)
    assert final["status"] == "Success", final
    assert final["stageStatus"]["package"]["status"] == "Success"
    assert "survived" in runs.log("survive", rec["id"]).text.splitlines()


def test_logs_restart_mid_run_keeps_every_line(runs: Runs, git_repo, fault_stack, tmp_path):
    marker = tmp_path / "started"
    script = (
        f"touch {marker}; i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); "
        "[ $((i % 500)) -eq 0 ] && sleep 0.5; done; true"
    )
    runs.pipeline(pipeline_body("chatty", git_repo.url, package=[script]))
    rec = runs.start("chatty")
    assert until(marker.exists, 30)
    time.sleep(0.7)
    restart(fault_stack, "logs")
    final = runs.wait("chatty", rec["id"], timeout=60)
    assert final["status"] == "Success", final

    def complete() -> bool:
        lines = runs.log("chatty", rec["id"], stage="package").text.splitlines()
        return [x for x in lines if x.startswith("line-")] == [f"line-{i}" for i in range(3000)]

    assert until(complete, 20), "log lines were lost or reordered"


def test_two_scheduler_replicas_run_each_record_once(runs: Runs, git_repo, fault_stack, tmp_path):
    ledger = tmp_path / "ledger"
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
        assert until(lambda: len(read_lines(ledger)) >= 50, 180), len(read_lines(ledger))
        time.sleep(1)
    finally:
        replica.send_signal(signal.SIGTERM)
        replica.wait(20)
    assert sorted(read_lines(ledger)) == sorted(ids), "a record ran twice or not at all"
    listed = runs.api.get(runs.url("once")).json()
    assert [r["status"] for r in listed["items"]] == ["Success"] * 3


def test_deleting_a_pipeline_stops_and_deletes_its_records(runs: Runs, git_repo, db, tmp_path):
    marker = tmp_path / "pid"
    runs.pipeline(pipeline_body("doomed", git_repo.url, package=[f"echo $$ > {marker}; sleep 60"]))
    done = runs.run("doomed", stages=["codeCheckout"])
    running = runs.start("doomed")
    assert until(marker.exists, 30)
    sleeper = int(marker.read_text())
    assert db.log_chunks.count_documents({"record_id": done["id"]}) > 0
    pipeline_id = done["pipelineID"]
    assert runs.api.delete(f"/api/v1/projects/{runs.project}/pipelines/doomed").status_code == 204
    assert until(lambda: not pid_alive(sleeper), 10), "the running command was not stopped"
    assert until(lambda: db.records.count_documents({"pipelineID": pipeline_id}) == 0, 10)
    assert until(
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

    assert until(lambda: total() == 3, 10), total()  # retention follows the end, not before it
    listed = runs.api.get(runs.url("kept")).json()
    assert [r["id"] for r in listed["items"]] == ids[::-1][:3]
    assert until(lambda: db.log_chunks.count_documents({"record_id": {"$in": ids[:2]}}) == 0, 10)
    assert db.log_chunks.count_documents({"record_id": ids[-1]}) > 0
