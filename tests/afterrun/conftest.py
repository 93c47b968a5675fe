"""One real stack for after-run tests, wired to local receivers: an HTTP server (webhooks and
the fake SCM APIs) and an SMTP server, both started before the stack so it can be told."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.afterrun.receivers import HttpReceiver, SmtpReceiver
from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.support import StackProcess

RETRY_BASE = 0.3  # seconds before the second try (then 0.6, 1.2, ...)


@pytest.fixture(scope="session")
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def after_stack(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpReceiver
) -> Iterator[StackProcess]:
    proc = StackProcess(
        tmp_path_factory.mktemp("afterrun") / "data",
        CYCLONE_SMTP_HOST="127.0.0.1",
        CYCLONE_SMTP_PORT=str(smtp.port),
        CYCLONE_SMTP_FROM="ci@cyclone.test",
        CYCLONE_DELIVERY_RETRY_BASE=str(RETRY_BASE),
        CYCLONE_DELIVERY_TIMEOUT="2",  # local receivers answer at once; a lease is 36 s
        CYCLONE_PUBLIC_URL="https://ci.example.com",
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def api(after_stack: StackProcess) -> Iterator[httpx.Client]:
    with after_stack.client() as client:
        yield client


def notified(
    name: str, url: str, policy: str, receivers: list[dict[str, Any]], **stages: Any
) -> dict[str, Any]:
    """A pipeline that notifies `receivers` after its runs, as `policy` says."""
    body = pipeline_body(name, url, **stages)
    body["notification"] = {"policy": policy, "receivers": receivers}
    return body


def project(api, unique: str) -> Runs:
    """A project of the test's own, made through the API."""
    resp = api.post("/api/v1/projects", json=project_body(unique))
    assert resp.status_code == 201, resp.text
    return Runs(api, unique)
