"""An event whose handler fails while MongoDB is away is handled once it is back, not acked
and lost (issue 16: a lost `pipeline_deleted` left a deleted pipeline's records and cron
triggers behind)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import config
from shared.contracts import events
from shared.publish import EventDispatcher
from tests.e2e.conftest import pipeline_body, project_body
from tests.logs.conftest import MongoProcess
from tests.support import StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoProcess]:
    proc = MongoProcess(tmp_path_factory.mktemp("retry-mongo"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def retry_stack(mongo: MongoProcess, tmp_path_factory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("retries") / "data"
    proc = StackProcess(data, CYCLONE_MONGO_URL=mongo.url, CYCLONE_RETRY_DELAYS="1,2,3,5,8")
    proc.start()
    yield proc
    proc.stop()


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
