"""The cloud service as deployed: `python -m services.cloud` over real RabbitMQ and secantusdb.

Workers are the stand-in (tests/cloud/standin.py) through CYCLONE_LOCAL_WORKER_CMD.
"""

from __future__ import annotations

import os
import signal

import pytest
from nameko.exceptions import RemoteError

from shared.contracts.boundary import MalformedPayload
from shared.contracts.errors import NotFound
from shared.publish import EventDispatcher
from tests.cloud.helpers import new_record_id, pid_alive, plan, release, seen
from tests.waiting import wait_for


def live(rpc, cloud_name=None) -> set[str]:
    return {w["recordID"] for w in rpc.cloud.list_workers(cloud_name)}


def test_start_list_stop(cloud, rpc, exits, workers_collection):
    record_id = new_record_id()
    info = rpc.cloud.start_worker(record_id, "proj", "pipe", {"cloudName": ""})
    assert info["name"] == f"cyclone-worker-{record_id}"
    assert (info["status"], info["cloud"], info["recordID"]) == ("Running", "local", record_id)
    assert (info["projectName"], info["pipelineName"]) == ("proj", "pipe")
    pid = seen(cloud.data_dir, record_id)["pid"]
    again = rpc.cloud.start_worker(record_id, "proj", "pipe", {"cloudName": "Local"})
    assert again["creationTime"] == info["creationTime"]  # the same worker
    assert record_id in live(rpc)
    assert record_id in live(rpc, "local")
    stored = workers_collection.find_one({"_id": record_id})
    assert (stored["pid"], stored["driver"], stored["endedAt"]) == (pid, "local", None)

    assert rpc.cloud.stop_worker(record_id) is True

    assert not pid_alive(pid)
    event = exits.of(record_id)
    assert event["exit_code"] == -signal.SIGTERM
    assert event["reason"] == "killed by signal 15 (stop requested)"
    assert event["time"].endswith("Z")
    assert record_id not in live(rpc)
    assert rpc.cloud.stop_worker(record_id) is False
    ended = wait_for(
        lambda: workers_collection.find_one({"_id": record_id, "endedAt": {"$ne": None}}), 5
    )
    assert ended["reason"] == event["reason"]


def test_unknown_cloud_and_bad_record_id(rpc):
    with pytest.raises(NotFound, match=r"^cloud k8s not found$"):
        rpc.cloud.start_worker(new_record_id(), "p", "q", {"cloudName": "k8s"})
    with pytest.raises(NotFound, match=r"^cloud k8s not found$"):
        rpc.cloud.list_workers("k8s")
    with pytest.raises(RemoteError, match="record id must be"):
        rpc.cloud.start_worker("../../etc", "p", "q", {})


def test_a_start_with_a_malformed_job_is_refused_and_starts_nothing(cloud, rpc):
    record_id = new_record_id()
    for job in ({"job": {"record_id": record_id}, "sent": 1.0}, {"sent": "now"}, "job"):
        with pytest.raises(MalformedPayload, match="start_worker job"):
            rpc.cloud.start_worker(record_id, "p", "q", {}, job)
    assert record_id not in live(rpc)
    assert not (cloud.data_dir / "workspaces" / record_id).exists()


def test_exit_codes_and_signals_from_outside(cloud, rpc, exits):
    fails, killed = new_record_id(), new_record_id()
    plan(cloud.data_dir, fails, 0.2, 1)
    rpc.cloud.start_worker(fails, "p", "q", {})
    rpc.cloud.start_worker(killed, "p", "q", {})
    os.kill(seen(cloud.data_dir, killed)["pid"], signal.SIGKILL)

    assert exits.of(fails) | {"time": ""} == {
        "record_id": fails,
        "exit_code": 1,
        "reason": "exited with code 1",
        "time": "",
    }
    event = exits.of(killed)
    assert (event["exit_code"], event["reason"]) == (-9, "killed by signal 9")
    log = (cloud.data_dir / "workspaces" / f"{fails}.worker.log").read_text()
    assert f"stand-in for {fails} running" in log
    assert not (cloud.data_dir / "workspaces" / fails).exists()


def test_deleted_records_lose_their_workers_and_logs(cloud, rpc, exits, workers_collection):
    record_id = new_record_id()
    rpc.cloud.start_worker(record_id, "p", "q", {})
    pid = seen(cloud.data_dir, record_id)["pid"]
    log = cloud.data_dir / "workspaces" / f"{record_id}.worker.log"
    assert log.exists()

    publish = EventDispatcher(cloud.config)
    publish("scheduler", "records_deleted", {"record_ids": [record_id, "not-an-id"]})

    assert exits.of(record_id)["reason"] == "killed by signal 15 (stop requested)"
    assert not pid_alive(pid)
    wait_for(lambda: not log.exists(), 5, "the worker log to go")
    wait_for(lambda: workers_collection.find_one({"_id": record_id}) is None, 5, "the doc")


def test_workers_outlive_a_restart_of_the_service(cloud, rpc, exits):
    ends, runs = new_record_id(), new_record_id()
    plan(cloud.data_dir, ends, 600)  # ends when released, once the service is back
    rpc.cloud.start_worker(ends, "p", "q", {})
    rpc.cloud.start_worker(runs, "p", "q", {})
    pids = {rid: seen(cloud.data_dir, rid)["pid"] for rid in (ends, runs)}

    cloud.stop()
    try:
        assert all(pid_alive(pid) for pid in pids.values())  # the workers did not die with us
    finally:
        cloud.start()  # the module's service, for the tests after this one

    assert {ends, runs} <= live(rpc)
    release(cloud.data_dir, ends)
    event = exits.of(ends)
    assert (event["exit_code"], event["reason"]) == (None, "worker process disappeared")
    assert rpc.cloud.stop_worker(runs) is True
    assert not pid_alive(pids[runs])
    assert exits.of(runs)["reason"] == "worker process disappeared (stop requested)"
    assert live(rpc) & {ends, runs} == set()
