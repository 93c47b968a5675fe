"""An event whose handler fails while MongoDB is away is handled once it is back, not acked
and lost (issue 16: a lost `pipeline_deleted` left a deleted pipeline's records and cron
triggers behind)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared import config
from shared.contracts import events
from shared.publish import EventDispatcher
from tests.e2e.conftest import pipeline_body, project_body
from tests.support import MongoProcess, StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def retry_stack(mongo: MongoProcess, tmp_path_factory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("retries") / "data"
    proc = StackProcess(data, CYCLONE_MONGO_URL=mongo.url, CYCLONE_RETRY_DELAYS="1,2,3,5,8")
    proc.start()
    yield proc
    proc.retire()


def test_pipeline_deleted_while_the_database_is_away_is_handled_once_it_is_back(
    retry_stack: StackProcess, mongo: MongoProcess, unique: str
) -> None:
    with retry_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        body = pipeline_body("p", "file:///nowhere", package=["true"])
        assert api.post(f"/api/v1/projects/{unique}/pipelines", json=body).status_code == 201
        pipeline = f"/api/v1/projects/{unique}/pipelines/p"
        pipeline_id = api.get(pipeline).json()["id"]
        record = api.post(f"{pipeline}/records", json={"ref": "main"}).json()
        wait_for(
            lambda: (
                api.get(f"{pipeline}/records/{record['id']}").json()["status"]
                in ("Success", "Failed", "Aborted")
            ),
            60,
            "the record to end",
        )
        assert len(api.get(f"{pipeline}/records").json()["items"]) == 1
        project_id = api.get(f"/api/v1/projects/{unique}").json()["id"]

        mongo.stop()
        try:
            # as the gateway publishes it once the pipeline is gone from its own store
            dispatch = EventDispatcher(config.load(retry_stack.env).nameko_config())
            dispatch(
                *events.PIPELINE_DELETED,
                {
                    "project_id": project_id,
                    "project": unique,
                    "pipeline_id": pipeline_id,
                    "pipeline": "p",
                },
            )
            wait_for(
                lambda: (
                    "handle_pipeline_deleted failed (try 2"
                    in retry_stack.log_path.read_text(errors="replace")
                ),
                60,
                "the scheduler to fail the event twice",
                every=0.2,
            )
        finally:
            mongo.start()
        wait_for(
            lambda: api.get(f"{pipeline}/records").json()["items"] == [],
            60,
            "the pipeline's records removed by the retried event",
            every=0.5,
        )
    log = retry_stack.log_path.read_text(errors="replace")
    assert "dead-lettered" not in log


def test_a_webhook_retried_after_the_scheduler_hung_starts_one_run(
    retry_stack: StackProcess, unique: str
) -> None:
    """The scm service gives up on a hung scheduler (503 to GitHub, which retries the
    delivery); the scheduler, back, makes the run of the first try; the retry answers that
    run instead of making a second (the delivery is the create_record request's key)."""
    with retry_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        body = pipeline_body("hooked", "file:///nowhere", package=["true"])
        body["autoTrigger"] = {
            "scmTrigger": {"webhookSecret": SECRET, "push": {"stages": [], "branches": ["main"]}}
        }
        made = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
        assert made.status_code == 201, made.text
        records = f"/api/v1/projects/{unique}/pipelines/hooked/records"
        push = json.loads(FIXTURE.read_bytes())
        push.update(ref="refs/heads/main")
        raw = json.dumps(push).encode()
        scheduler = retry_stack.pids()["scheduler"]
        os.kill(scheduler, signal.SIGSTOP)
        try:
            first = deliver(retry_stack, made.json()["id"], raw, f"{unique}-1")
            assert first.status_code == 503, first.text
        finally:
            os.kill(scheduler, signal.SIGCONT)
        wait_for(lambda: len(api.get(records).json()["items"]) == 1, 30, "the first try's run")
        made_first = api.get(records).json()["items"][0]["id"]
        again = deliver(retry_stack, made.json()["id"], raw, f"{unique}-1")
        assert again.status_code == 200 and again.json()["status"] == "started", again.text
        assert again.json()["record"] == made_first
        assert len(api.get(records).json()["items"]) == 1


SECRET = "retry-hook-secret"
FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared/fixtures/webhooks/github/push.new-branch.json"
)


def deliver(stack: StackProcess, pipeline_id: str, raw: bytes, delivery: str) -> httpx.Response:
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{stack.url}/api/v1/pipelines/{pipeline_id}/githubwebhook",
        content=raw,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "Content-Type": "application/json",
            "X-Hub-Signature-256": f"sha256={digest}",
        },
        timeout=30,
    )
