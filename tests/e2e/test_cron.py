"""Cron triggers on a per-second test clock, with two scheduler replicas."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.e2e.conftest import Runs, pipeline_body, project_body, until
from tests.support import ROOT, StackProcess


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
    replica.send_signal(signal.SIGTERM)
    replica.wait(20)
    proc.stop()


def started(runs: Runs, pipeline: str) -> list[dict]:
    return runs.api.get(runs.url(pipeline), params={"limit": 1000}).json()["items"]


def test_cron_fires_once_per_tick_and_stops_when_removed(cron_stack, git_repo, unique):
    with cron_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        runs = Runs(api, unique)
        body = pipeline_body("nightly", git_repo.url, unit=["echo unit"], package=["echo pkg"])
        body["autoTrigger"] = {
            "cronTrigger": {"crons": [{"expression": "*/3 * * * *", "stages": ["package"]}]}
        }
        runs.pipeline(body)
        time.sleep(10)
        got = started(runs, "nightly")
        assert 2 <= len(got) <= 4, [r["startTime"] for r in got]
        ticks = sorted(datetime.fromisoformat(r["startTime"].replace("Z", "+00:00")) for r in got)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
        assert all(g > 1.5 for g in gaps), gaps  # never two runs for one tick
        for rec in got:
            assert rec["trigger"] == "cronTrigger"
            assert rec["performParams"]["stages"] == ["package"]
        first = runs.wait("nightly", got[-1]["id"])
        assert first["status"] == "Success", first
        assert set(first["stageStatus"]) == {"codeCheckout", "package"}
        del body["autoTrigger"]
        assert api.put(runs.url("nightly").rsplit("/records", 1)[0], json=body).status_code == 200
        time.sleep(1)
        settled = len(started(runs, "nightly"))
        time.sleep(5)
        assert len(started(runs, "nightly")) == settled


def test_deleting_the_pipeline_removes_its_triggers(cron_stack, git_repo, unique):
    with cron_stack.client() as api:
        api.post("/api/v1/projects", json=project_body(unique))
        runs = Runs(api, unique)
        body = pipeline_body("gone", git_repo.url, package=["echo x"])
        body["autoTrigger"] = {"cronTrigger": {"crons": [{"expression": "*/2 * * * *"}]}}
        runs.pipeline(body)
        assert until(lambda: len(started(runs, "gone")) >= 1, 10)
        assert api.delete(f"/api/v1/projects/{unique}/pipelines/gone").status_code == 204
        from pymongo import MongoClient

        client = MongoClient((cron_stack.data_dir / "mongo-url").read_text().strip())
        try:
            db = client.get_default_database()
            assert until(lambda: db.cron_triggers.count_documents({}) == 0, 10)
        finally:
            client.close()
