"""End-to-end runs through the HTTP API with the whole stack: real git and svn repositories
(`git_repo`, `svn_repo`: tests/conftest.py), real worker processes on the Local cloud."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_for

FINISHED = {"Success", "Failed", "Aborted"}


def project_body(name: str, scm_type: str = "Github") -> dict[str, Any]:
    return {
        "name": name,
        "scm": {
            "type": scm_type,
            "server": "https://scm.example.com",
            "username": "bot",
            "token": "scm-secret-token",
        },
    }


def pipeline_body(
    name: str,
    url: str,
    *,
    source: str = "other",
    unit: list[str] | None = None,
    package: list[str] | None = None,
    outputs: list[str] | None = None,
    env: list[dict] | None = None,
) -> dict[str, Any]:
    block = {"other": "otherCodeSource", "svn": "svn", "github": "github"}[source]
    stages: dict[str, Any] = {"codeCheckout": {"mainRepo": {"type": source, block: {"url": url}}}}
    if unit is not None:
        stages["unitTest"] = {"command": unit}
    if package is not None:
        stages["package"] = {"command": package, "outputs": outputs or []}
    return {
        "name": name,
        "build": {"builderImage": {"image": "local", "envVars": env or []}, "stages": stages},
    }


class Runs:
    """Helpers over one project: make pipelines, start runs, wait for them."""

    def __init__(self, api: httpx.Client, project: str) -> None:
        self.api = api
        self.project = project

    def pipeline(self, body: dict[str, Any]) -> str:
        resp = self.api.post(f"/api/v1/projects/{self.project}/pipelines", json=body)
        assert resp.status_code == 201, resp.text
        return body["name"]

    def url(self, pipeline: str, record: str = "", tail: str = "") -> str:
        base = f"/api/v1/projects/{self.project}/pipelines/{pipeline}/records"
        return base + (f"/{record}" if record else "") + tail

    def start(self, pipeline: str, **params: Any) -> dict[str, Any]:
        resp = self.api.post(self.url(pipeline), json={"ref": "main", **params})
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, pipeline: str, record: str) -> dict[str, Any]:
        resp = self.api.get(self.url(pipeline, record))
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(
        self, pipeline: str, record: str, statuses: set[str] = FINISHED, timeout: float = 60
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            got = self.get(pipeline, record)
            assert got["status"] in statuses, got
            return got

        what = f"record {record} to be one of {sorted(statuses)}"
        return wait_for(reached, timeout, what, every=0.1)

    def settled(
        self, pipeline: str, record: str, stages: dict[str, str], timeout: float = 30
    ) -> dict[str, Any]:
        """The ended record once its stageStatus holds exactly `stages` (name: status).

        A worker's STAGE_* events and its RUN_FINISHED reach the scheduler on separate queues,
        so a record may be seen ended before the report of a stage before its last (the last
        one's end comes inside RUN_FINISHED): that stage is then missing (its start was not
        seen either) or holds a status the scheduler assumed, without its details.
        """

        def check() -> dict[str, Any]:
            got = self.get(pipeline, record)
            seen = {name: stage.get("status") for name, stage in got["stageStatus"].items()}
            assert got["status"] in FINISHED and seen == stages, got
            return got

        what = f"the stages of record {record} to be {stages}"
        return wait_for(check, timeout, what, every=0.1)

    def log(self, pipeline: str, record: str, **params: Any) -> httpx.Response:
        return self.api.get(self.url(pipeline, record, "/logs"), params=params)

    def log_through(self, pipeline: str, record: str, last: str, **params: Any) -> str:
        """The stored log once it has a line starting with `last` (e.g. a stage's finish line).

        The logs service stores lines a moment after the worker sent them, independently of
        the record's status; it serves them without gaps, so the lines before `last` are there.
        """

        def check() -> str | None:
            text = self.log(pipeline, record, **params).text
            return text if any(x.startswith(last) for x in text.splitlines()) else None

        return wait_for(check, 30, f"log line {last!r} of record {record}", every=0.1)

    def run(self, pipeline: str, **params: Any) -> dict[str, Any]:
        return self.wait(pipeline, self.start(pipeline, **params)["id"])


@pytest.fixture
def runs(api: httpx.Client, unique: str) -> Runs:
    resp = api.post("/api/v1/projects", json=project_body(unique))
    assert resp.status_code == 201, resp.text
    return Runs(api, unique)


def read_lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def stop_replica(replica: subprocess.Popen) -> None:
    """SIGTERM, as a deployment stops it; killed if it does not end in time (the stack's
    own stop must still come, and no stray scheduler may outlive the test)."""
    replica.send_signal(signal.SIGTERM)
    try:
        replica.wait(20)
    except subprocess.TimeoutExpired:
        replica.kill()
        replica.wait()
        raise


def counted(n: int, pause_every: int = 100, pause: float = 0.05) -> str:
    """A command printing n-0 .. n-(n-1), pausing every `pause_every` lines (see `numbers`)."""
    return (
        f"i=0; while [ $i -lt {n} ]; do echo n-$i; i=$((i+1)); "
        f"[ $((i % {pause_every})) -eq 0 ] && sleep {pause}; done; true"
    )


def numbers(lines: list[str]) -> list[int]:
    """The numbers of the lines `counted` printed, in the order given."""
    return [int(x[2:]) for x in lines if x.startswith("n-")]
