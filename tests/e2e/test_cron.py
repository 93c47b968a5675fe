"""Cron triggers on a per-second test clock, with two scheduler replicas."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.e2e.conftest import Runs, pipeline_body, project_body, stop_replica
from tests.support import ROOT, StackProcess
from tests.waiting import holds_for, wait_for


@pytest.fixture(scope="module")
def cron_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(
        tmp_path_factory.mktemp("cron") / "data",
        CYCLONE_CRON_PER_SECOND="1",
        CYCLONE_RECORDS_PER_PIPELINE="200",
    ).start()
    replica = subprocess.Popen(
        [sys.executable, "-m", "services.scheduler"],
        cwd=ROOT,
        env=proc.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    try:
        stop_replica(replica)
    finally:
        proc.retire()


def started(runs: Runs, pipeline: str) -> list[dict]:
    return runs.api.get(runs.url(pipeline), params={"limit": 1000}).json()["items"]


def start_times(records: list[dict]) -> list[float]:
    """Unix times of the records' starts, oldest first."""
    return sorted(
        datetime.fromisoformat(r["startTime"].replace("Z", "+00:00")).timestamp() for r in records
    )


def create_pipeline(runs: Runs, body: dict) -> str:
    resp = runs.api.post(f"/api/v1/projects/{runs.project}/pipelines", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.fixture(scope="module")
def db(cron_stack: StackProcess) -> Iterator[Database]:
    client = MongoClient((cron_stack.data_dir / "mongo-url").read_text().strip())
    yield client.get_default_database()
    client.close()


def test_cron_fires_once_per_tick_and_stops_when_removed(cron_stack, db, git_repo, unique):
    with cron_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        runs = Runs(api, unique)
        body = pipeline_body("nightly", git_repo.url, unit=["echo unit"], package=["echo pkg"])
        body["autoTrigger"] = {
            "cronTrigger": {"crons": [{"expression": "*/3 * * * *", "stages": ["package"]}]}
        }
        created = time.time()
        pipeline_id = create_pipeline(runs, body)
        wait_for(lambda: len(started(runs, "nightly")) >= 3, 20, "the runs of three ticks")
        got = started(runs, "nightly")
        # Never two runs for one tick: at most one run per tick since the pipeline was saved
        # (a tick fires when the scheduler's 1 s timer comes, late on a busy machine, and
        # ticks missed meanwhile are not replayed), and no two runs started together.
        times = start_times(got)
        ticks = int(times[-1]) // 3 - int(created) // 3  # of "*/3" on the per-second clock
        assert len(times) <= ticks, (times, created)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g > 0.5 for g in gaps), gaps
        for rec in got:
            assert rec["trigger"] == "cronTrigger"
            assert rec["performParams"]["stages"] == ["package"]
        first = runs.wait("nightly", got[-1]["id"])
        assert first["status"] == "Success", first
        runs.settled("nightly", first["id"], {"codeCheckout": "Success", "package": "Success"})
        del body["autoTrigger"]
        assert api.put(runs.url("nightly").rsplit("/records", 1)[0], json=body).status_code == 200
        # The scheduler drops the triggers when it handles the pipeline's change. A tick it
        # claimed just before may still start its run a moment later; no later tick may (one
        # would fire within 3 s).
        wait_for(lambda: db.cron_triggers.count_documents({"pipelineID": pipeline_id}) == 0, 10)
        removed = time.time()
        holds_for(
            lambda: max(start_times(started(runs, "nightly"))) < removed + 1,
            6,
            "no run after the triggers were removed",
        )


def test_deleting_the_pipeline_removes_its_triggers(cron_stack, db, git_repo, unique):
    with cron_stack.client() as api:
        api.post("/api/v1/projects", json=project_body(unique))
        runs = Runs(api, unique)
        body = pipeline_body("gone", git_repo.url, package=["echo x"])
        body["autoTrigger"] = {"cronTrigger": {"crons": [{"expression": "*/2 * * * *"}]}}
        pipeline_id = create_pipeline(runs, body)
        wait_for(lambda: len(started(runs, "gone")) >= 1, 10)
        assert api.delete(f"/api/v1/projects/{unique}/pipelines/gone").status_code == 204
        # its own triggers: the module's other test has (or had) some too
        wait_for(lambda: db.cron_triggers.count_documents({"pipelineID": pipeline_id}) == 0, 10)
