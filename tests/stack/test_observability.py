"""One log format across the stack, and one request followed through every service by its
request id and record id (CYCLONE_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.repos import make_git_repo
from tests.support import StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def json_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("jsonlogs") / "data"
    # one run at a time: a queued record starts from another caller's pass (test below)
    proc = StackProcess(
        data, CYCLONE_LOG_FORMAT="json", CYCLONE_ACCESS_LOG="on", CYCLONE_MAX_RUNNING="1"
    ).start()
    yield proc
    proc.retire()


def entries(path: Path) -> list[dict]:
    """Every line of a log file as JSON: a line that is not JSON fails the test (one format)."""
    lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a line of {path.name} is not JSON: {line!r}")
    return parsed


def test_the_start_is_quiet_and_every_line_is_json(json_stack: StackProcess):
    logged = entries(json_stack.log_path)
    assert {"launcher", "api", "scheduler", "cloud", "logs", "scm"} <= {
        e["service"] for e in logged
    }
    assert all({"time", "level", "service", "logger", "message"} <= e.keys() for e in logged)
    loud = [e for e in logged if e["level"] in ("WARNING", "ERROR", "CRITICAL")]
    assert loud == []
    text = json_stack.log_path.read_text()
    assert "Warning" not in text and "Traceback" not in text


def logged(stack: StackProcess, services: set[str], key: str, value: str) -> Callable[[], bool]:
    """A check for wait_for: each of `services` logged a line with this id (the failure names
    those that did)."""

    def check() -> bool:
        seen = {e["service"] for e in entries(stack.log_path) if e.get(key) == value}
        assert services <= seen, f"only {sorted(seen)} logged {key} {value}"
        return True

    return check


def test_one_run_followed_by_its_request_id_and_record_id(json_stack: StackProcess, tmp_path):
    repo = make_git_repo(tmp_path)
    name = f"t{uuid.uuid4().hex[:10]}"
    rid = f"test-{uuid.uuid4().hex}"
    with json_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(name)).status_code == 201
        runs = Runs(api, name)
        runs.pipeline(pipeline_body("p", repo.url, package=["echo traced"]))
        created = api.post(runs.url("p"), json={"ref": "main"}, headers={"X-Request-ID": rid})
        assert created.status_code == 201, created.text
        assert created.headers["X-Request-ID"] == rid
        record = created.json()["id"]
        assert runs.wait("p", record)["status"] == "Success"
        generated = api.get("/api/v1/projects")
        assert len(generated.headers["X-Request-ID"]) == 32  # made when the client sends none
        bad = api.get("/api/v1/projects", headers={"X-Request-ID": "no spaces\tor tabs"})
        assert bad.headers["X-Request-ID"] != "no spaces\tor tabs"

    # the request: the gateway's access line, the scheduler creating the record, the cloud
    # starting its worker (whichever dispatch pass started it: the POST's or the upkeep's)
    wait_for(logged(json_stack, {"api", "scheduler", "cloud"}, "request_id", rid), 30)
    # the record: created and ended by the scheduler, launched by the cloud, its log stored
    wait_for(logged(json_stack, {"scheduler", "cloud", "logs"}, "record_id", record), 30)
    access = [e for e in entries(json_stack.log_path) if e.get("request_id") == rid]
    assert any(e["logger"] == "cyclone.access" and " 201 " in e["message"] for e in access)

    worker_log = Path(json_stack.env["CYCLONE_WORKSPACES"]) / f"{record}.worker.log"
    worker = [e for e in entries(worker_log) if e.get("service") == "worker"]
    assert worker and all(e["record_id"] == record for e in worker)


def test_a_queued_record_starts_with_the_request_id_that_made_it(
    json_stack: StackProcess, tmp_path
):
    """The record waits for the one slot; the abort of the record holding it starts it, in the
    abort's nameko worker (before: its cloud lines carried the abort's request id)."""
    repo = make_git_repo(tmp_path)
    name = f"t{uuid.uuid4().hex[:10]}"
    made, aborting = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    with json_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(name)).status_code == 201
        runs = Runs(api, name)
        runs.pipeline(pipeline_body("p", repo.url, package=["sleep 120"]))
        holder = runs.start("p")["id"]
        runs.wait("p", holder, {"Running"})
        created = api.post(runs.url("p"), json={"ref": "main"}, headers={"X-Request-ID": made})
        assert created.status_code == 201, created.text
        queued = created.json()["id"]
        time.sleep(1.5)  # an upkeep pass or more: the slot is held, so it stays queued
        assert runs.get("p", queued)["status"] == "Pending"
        stop = api.patch(
            runs.url("p", holder, "/status"),
            json={"status": "Aborted"},
            headers={"X-Request-ID": aborting},
        )
        assert stop.status_code == 200, stop.text
        runs.wait("p", queued, {"Running", "Success", "Failed", "Aborted"})
        stop = api.patch(runs.url("p", queued, "/status"), json={"status": "Aborted"})
        assert stop.status_code == 200, stop.text

    wait_for(logged(json_stack, {"scheduler", "cloud"}, "request_id", made), 30)
    launched = [
        e
        for e in entries(json_stack.log_path)
        if e.get("record_id") == queued and e["service"] == "cloud"
    ]
    assert launched and {e.get("request_id") for e in launched} == {made}, launched
