"""After every connection to the stack's vhost is closed (what a broker restart does), the
gateway's pooled RPC proxies are stale: the next request must still be answered, not fail
once per stale proxy."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import pipeline_body, project_body
from tests.support import StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def reconnect_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(tmp_path_factory.mktemp("reconnect") / "data").start()
    yield proc
    proc.retire()


def test_requests_after_the_broker_dropped_every_connection_are_answered(reconnect_stack, unique):
    with reconnect_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(unique)).status_code == 201
        body = pipeline_body("p", "file:///nowhere", package=["true"])
        assert api.post(f"/api/v1/projects/{unique}/pipelines", json=body).status_code == 201
        records = f"/api/v1/projects/{unique}/pipelines/p/records"
        for _ in range(8):  # proxies in both gateway processes' pools
            assert api.get(records).status_code == 200
        subprocess.run(
            ["rabbitmqctl", "close_all_connections", "-p", reconnect_stack.vhost, "test"],
            check=True,
            capture_output=True,
        )
        # the services reconnect by themselves; until they have, calls wait in their queues
        wait_for(lambda: api.get("/healthz").status_code == 200, 60, "the services back")
        answers = [api.get(records).status_code for _ in range(8)]
        assert answers == [200] * 8, answers
