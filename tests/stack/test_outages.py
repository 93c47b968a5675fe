"""A broker or database outage reaches clients as 503 ServiceUnavailable with what is down,
not as 500 Internal, and the gateway answers again once it is back."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import pipeline_body, project_body
from tests.support import MongoProcess, StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def outage_stack(mongo: MongoProcess, tmp_path_factory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("outage") / "data"
    proc = StackProcess(data, CYCLONE_MONGO_URL=mongo.url).start()
    yield proc
    proc.retire()


def unavailable(resp, what: str) -> bool:
    assert resp.status_code == 503, (resp.status_code, resp.text)
    body = resp.json()
    assert body["reason"] == "ServiceUnavailable" and what in body["message"], body
    return True


def test_a_database_outage_is_503_then_the_gateway_recovers(outage_stack, mongo):
    with outage_stack.client() as api:
        assert api.get("/api/v1/projects").status_code == 200
        mongo.stop()
        try:
            assert unavailable(api.get("/api/v1/projects"), "the database is unavailable")
            refused = api.post("/api/v1/projects", json=project_body("during-outage"))
            assert unavailable(refused, "the database is unavailable")
        finally:
            mongo.start()
        wait_for(lambda: api.get("/api/v1/projects").status_code == 200, 60, "the gateway back")
        assert api.get("/api/v1/projects/during-outage").status_code == 404  # nothing was kept


def test_a_broker_outage_is_503(outage_stack, unique):
    with outage_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        body = pipeline_body("p", "file:///nowhere", package=["true"])
        assert api.post(f"/api/v1/projects/{unique}/pipelines", json=body).status_code == 201
        records = f"/api/v1/projects/{unique}/pipelines/p/records"
        assert api.get(records).status_code == 200
        # the stack's vhost goes: every connection to it closes, new ones are refused
        subprocess.run(["rabbitmqctl", "delete_vhost", outage_stack.vhost], check=True)
        assert unavailable(api.get(records), "the message broker is unavailable")
        assert unavailable(api.post(records, json={"ref": "main"}), "the message broker")
