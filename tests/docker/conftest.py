"""The Docker cloud against the real engine `tools/docker-up.sh` starts (CI runs it first):
records through the API of a real stack whose cloud service drives that engine, and a local
registry on 127.0.0.1:5000 with htpasswd auth.

No test here is skipped when the engine is missing: they fail and say how to start it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from shared.contracts import logs
from shared.dockerengine import CLOUD_LABEL, HOST_LABEL, RECORD_LABEL
from tests.e2e.conftest import Runs, project_body
from tests.repos import sh
from tests.support import StackProcess
from tests.waiting import wait_for

ENGINE = "unix:///var/run/docker.sock"
IMAGE = "cyclone-test/busybox:latest"  # made by tools/docker-up.sh with `docker import`
REGISTRY = "127.0.0.1:5000"
REGISTRY_USER = os.environ.get("CYCLONE_TEST_REGISTRY_USER", "cyclone")
REGISTRY_PASSWORD = os.environ.get("CYCLONE_TEST_REGISTRY_PASSWORD", "cyclone-registry")
QUOTA = {"limits.cpu": "0.5", "limits.memory": "256Mi", "requests.memory": "64Mi"}


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=ENGINE, version="auto", timeout=60)
    try:
        client.images.get(IMAGE)
    except Exception as exc:  # noqa: BLE001 - say how to get what is missing
        pytest.fail(f"the Docker tests need the engine and {IMAGE}: run tools/docker-up.sh ({exc})")
    yield client
    client.close()


@pytest.fixture(scope="module")
def docker_stack(
    tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient
) -> Iterator[StackProcess]:
    """A stack whose Local cloud also has the engine for image stages."""
    proc = StackProcess(
        tmp_path_factory.mktemp("dockerstack") / "data",
        CYCLONE_DOCKER_HOST=ENGINE,
        CYCLONE_SONAR_SCANNER_IMAGE="cyclone-test/sonar-scanner:latest",
        CYCLONE_SONAR_POLL="0.2",
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def dapi(docker_stack: StackProcess) -> Iterator[httpx.Client]:
    with docker_stack.client() as client:
        yield client


def listed(
    engine: docker.DockerClient, filters: dict[str, Any], *, stopped: bool = True
) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of the containers matching `filters` (running ones only unless
    `stopped`), from the listing itself (sparse): a full listing inspects each container
    after, and one removed in between (by a sweep or a cleanup under test) raises NotFound."""
    found = engine.containers.list(all=stopped, filters=filters, sparse=True)
    return [(c.attrs["Names"][0].lstrip("/"), c.attrs.get("Labels") or {}) for c in found]


def leftovers(engine: docker.DockerClient, record_id: str) -> list[str]:
    """Containers, networks and volumes still labelled with a record."""
    match = {"label": [f"{RECORD_LABEL}={record_id}"]}
    return [
        *(f"container {name}" for name, _ in listed(engine, match)),
        *(f"network {n.name}" for n in engine.networks.list(filters=match)),
        *(f"volume {v.name}" for v in engine.volumes.list(filters=match)),
    ]


def no_leftovers(engine: docker.DockerClient, record_id: str) -> bool:
    """For wait_for: fails with what is left, so a timeout names it."""
    left = leftovers(engine, record_id)
    assert not left, left
    return True


class DockerRuns(Runs):
    """Runs on a Docker cloud; every record started is checked for leftovers at the end."""

    def __init__(self, api: httpx.Client, project: str, engine: docker.DockerClient) -> None:
        super().__init__(api, project)
        self.engine = engine
        self.started: list[str] = []

    def start(self, pipeline: str, **params: Any) -> dict[str, Any]:
        record = super().start(pipeline, **params)
        self.started.append(record["id"])
        return record

    def assert_clean(self) -> None:
        for record_id in self.started:
            wait_for(lambda r=record_id: no_leftovers(self.engine, r), 20)


def docker_project(
    name: str, cloud: str, *, quota: dict[str, str] | None = None, registry: bool = True
) -> dict[str, Any]:
    body = project_body(name)
    body["worker"] = {"location": {"cloudName": cloud}}
    if quota:
        body["worker"]["quota"] = quota
    if registry:
        body["registry"] = {
            "server": REGISTRY,
            "repository": name,
            "username": REGISTRY_USER,
            "password": REGISTRY_PASSWORD,
        }
    return body


@pytest.fixture
def cloud(dapi: httpx.Client, unique: str) -> Iterator[str]:
    name = f"{unique}-dk"
    resp = dapi.post(
        "/api/v1/clouds", json={"name": name, "type": "Docker", "docker": {"host": ENGINE}}
    )
    assert resp.status_code == 201, resp.text
    yield name


@pytest.fixture
def druns(
    dapi: httpx.Client, unique: str, cloud: str, engine: docker.DockerClient
) -> Iterator[DockerRuns]:
    resp = dapi.post("/api/v1/projects", json=docker_project(unique, cloud, quota=QUOTA))
    assert resp.status_code == 201, resp.text
    runs = DockerRuns(dapi, unique, engine)
    yield runs
    runs.assert_clean()


DOCKERFILE = f'FROM {IMAGE}\nCOPY app.txt /app.txt\nCMD ["cat", "/app.txt"]\n'


@pytest.fixture(scope="module")
def app_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A git repository with an app to package and a Dockerfile to build it."""
    root = tmp_path_factory.mktemp("app")
    repo, work = root / "app.git", root / "work"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    sh("git", "init", "-q", "-b", "main", str(work))
    (work / "app.txt").write_text("hello from the app\n")
    (work / "Dockerfile").write_text(DOCKERFILE)
    (work / "docker").mkdir()
    (work / "docker" / "Other.dockerfile").write_text(f"FROM {IMAGE}\nCOPY . /ctx\n")
    (work / "docker" / "only-in-context.txt").write_text("ctx\n")
    sh("git", "add", ".", cwd=work)
    sh("git", "commit", "-q", "-m", "app", cwd=work)
    sh("git", "push", "-q", str(repo), "main", cwd=work)
    return f"file://{repo}"


def pipeline(name: str, url: str, stages: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "build": {
            "builderImage": {"image": IMAGE, "envVars": [{"name": "GREETING", "value": "hi"}]},
            "stages": {
                "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": url}}},
                **stages,
            },
        },
    }


def settled_log(
    runs: Runs, pipeline_name: str, record_id: str, stages: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """The ended record once it holds the report of each of `stages` (name: status, in the
    order they ran), and its whole stored log, through the last stage's own last line.

    A worker's stage reports, its RUN_FINISHED and its log lines reach the services on
    separate queues: a record may be seen finished before the others are stored.
    """
    record = runs.settled(pipeline_name, record_id, stages)
    stage, status = list(stages.items())[-1]
    last = logs.finish_line(stage) if status == "Success" else logs.fail_line(stage, "")
    return record, runs.log_through(pipeline_name, record_id, last)


def this_host() -> str:
    return socket.gethostname()


__all__ = ["CLOUD_LABEL", "HOST_LABEL"]
