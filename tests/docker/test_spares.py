"""Spare builders (services/cloud/backends/docker/spares.py) on the real engine: made, taken
once, removed with their record, by the sweep and when the service stops; and records of a
real stack taking them."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from services.cloud.backends.docker.spares import SpareBuilders, size_from_env, token_of
from services.cloud.backends.enginecleanup import EngineCleanup
from services.worker.engine import Engine
from shared.dockerengine import CLOUD_LABEL, HOST_LABEL, IMAGE_LABEL, RECORD_LABEL, SPARE_LABEL
from shared.envvars import SettingError
from tests.docker.conftest import ENGINE, IMAGE, docker_project, listed, pipeline, settled_log
from tests.e2e.conftest import Runs
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(300)

OTHER_IMAGE = "cyclone-test/busybox:spares-other"  # another name of it (other_image)
HOST = "spare-test-host"


def now(function: Callable[..., object], *args: object) -> None:
    """A spawn that runs at once: each test sees the engine after the call."""
    function(*args)


def section() -> dict[str, Any]:
    return {"host": ENGINE}


def spare_things(engine: docker.DockerClient, cloud: str) -> list[str]:
    """What carries a spare label of `cloud`: kind, name and token, sorted."""
    match = {"label": [SPARE_LABEL, f"{CLOUD_LABEL}={cloud}"]}
    found = [
        *(("container", name, labels) for name, labels in listed(engine, match)),
        *(("network", n.name, n.attrs["Labels"]) for n in engine.networks.list(filters=match)),
        *(("volume", v.name, v.attrs["Labels"]) for v in engine.volumes.list(filters=match)),
    ]
    return sorted(f"{kind} {name} {labels[SPARE_LABEL]}" for kind, name, labels in found)


def of_token(token: str) -> list[str]:
    return [
        f"container cyclone-spare-{token}-builder {token}",
        f"network cyclone-spare-{token}-net {token}",
        f"volume cyclone-spare-{token}-workspace {token}",
    ]


@pytest.fixture(scope="module")
def other_image(engine: docker.DockerClient) -> Iterator[str]:
    """A second builder image (by name: spares are kept by the name a pipeline gives)."""
    engine.images.get(IMAGE).tag(OTHER_IMAGE)
    yield OTHER_IMAGE
    engine.images.remove(OTHER_IMAGE)


@pytest.fixture
def cloud(engine: docker.DockerClient) -> Iterator[str]:
    name = f"spares-{secrets.token_hex(4)}"
    yield name
    for token in {line.split()[-1] for line in spare_things(engine, name)}:
        SpareBuilders(name, HOST, section, spawn=now).remove(token)


def pool(cloud: str, **kwargs: Any) -> SpareBuilders:
    return SpareBuilders(cloud, HOST, section, spawn=now, **kwargs)


def record_engine(engine: docker.DockerClient, cloud: str) -> Engine:
    record_id = secrets.token_hex(12)
    labels = {RECORD_LABEL: record_id, CLOUD_LABEL: cloud, HOST_LABEL: HOST}
    return Engine(docker.DockerClient(base_url=ENGINE, version="auto"), record_id, labels)


def test_a_spare_is_started_as_a_builder_and_taken_only_once(engine, cloud):
    spares = pool(cloud)
    assert spares.take(IMAGE) == ""  # none yet; one is made (at once, here)
    name = spares.take(IMAGE)
    token = token_of(name)
    assert token and name == f"cyclone-spare-{token}-builder"
    container = engine.containers.get(name)
    assert container.status == "running"
    assert container.labels[IMAGE_LABEL] == IMAGE and RECORD_LABEL not in container.labels
    assert container.attrs["HostConfig"]["Init"] is True
    networks = container.attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"cyclone-spare-{token}-net"]  # its own network only
    mounts = [(m["Name"], m["Destination"]) for m in container.attrs["Mounts"]]
    assert mounts == [(f"cyclone-spare-{token}-workspace", "/workspace")]
    assert token not in spares.held()  # handed: no longer the pool's

    first, second = record_engine(engine, cloud), record_engine(engine, cloud)
    taken = first.take_spare(name, IMAGE)
    assert taken is not None and taken.name == f"cyclone-{first.record_id}-builder"
    assert second.take_spare(name, IMAGE) is None  # the rename is the claim
    assert first.network() == f"cyclone-spare-{token}-net"
    assert first.volume() == f"cyclone-spare-{token}-workspace"

    removed = first.remove_all()
    assert sorted(removed) == [
        f"container cyclone-{first.record_id}-builder",
        f"network cyclone-spare-{token}-net",
        f"volume cyclone-spare-{token}-workspace",
    ]
    (waiting,) = spares.held()  # the one made when the first was handed
    assert spare_things(engine, cloud) == of_token(waiting)


def test_a_second_worker_of_a_record_removes_the_spare_the_first_one_took(engine, cloud):
    spares = pool(cloud, size=2)
    spares.take(IMAGE)
    first_spare, second_spare = spares.take(IMAGE), spares.take(IMAGE)
    first = record_engine(engine, cloud)
    assert first.take_spare(first_spare, IMAGE) is not None
    # The first worker died; its record's next worker finds its builder by name.
    second = Engine(first.client, first.record_id, first.labels)
    assert second.take_spare(second_spare, IMAGE) is not None
    tokens = {line.split()[-1] for line in spare_things(engine, cloud)}
    assert token_of(first_spare) not in tokens and token_of(second_spare) in tokens
    second.remove_all()
    assert {line.split()[-1] for line in spare_things(engine, cloud)} == spares.held()


def test_a_spare_of_another_image_or_stopped_is_not_used_and_goes(engine, cloud, other_image):
    spares = pool(cloud, size=2)
    spares.take(IMAGE)
    other, stopped = spares.take(IMAGE), spares.take(IMAGE)
    record = record_engine(engine, cloud)
    assert record.take_spare(other, OTHER_IMAGE) is None
    engine.containers.get(stopped).stop(timeout=0)
    assert record.take_spare(stopped, IMAGE) is None
    left = {line.split()[-1] for line in spare_things(engine, cloud)}
    assert token_of(other) not in left and token_of(stopped) not in left
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(f"cyclone-{record.record_id}-builder")


def test_spares_are_kept_for_the_latest_images_and_go_when_the_pool_closes(
    engine, cloud, other_image
):
    spares = pool(cloud, images=1)
    spares.take(IMAGE)
    first = {line.split()[-1] for line in spare_things(engine, cloud)}
    assert len(first) == 1 and spares.held() == first
    spares.take(OTHER_IMAGE)  # a second image: the first one's spare goes
    second = {line.split()[-1] for line in spare_things(engine, cloud)}
    assert len(second) == 1 and not second & first and spares.held() == second
    assert spares.take("cyclone-test/no-such-image:latest") == ""  # never pulled here
    assert spare_things(engine, cloud) == []  # that image's turn: the other one went
    spares.take(IMAGE)
    spares.close()
    assert spare_things(engine, cloud) == [] and spares.held() == set()


def test_cleanup_removes_a_handed_spare_a_taken_one_and_sweeps_the_rest(engine, cloud):
    spares = pool(cloud, size=4)
    spares.take(IMAGE)
    handed, taken, held = spares.take(IMAGE), spares.take(IMAGE), spares.take(IMAGE)
    record = record_engine(engine, cloud)
    assert record.take_spare(taken, IMAGE) is not None
    running: list[str] = []
    kept: set[str] = set()
    cleanup = EngineCleanup(cloud, HOST, section, lambda: running, now, kept=lambda: kept)

    cleanup.remove("0" * 24, token_of(handed))  # its worker never took it
    assert not {line.split()[-1] for line in spare_things(engine, cloud)} & {token_of(handed)}
    # Taken by a running record (found by its builder's name) and held by the driver: the
    # sweep keeps both, and removes the spares made meanwhile, which nothing keeps.
    running.append(record.record_id)
    kept.add(token_of(held))
    assert cleanup.sweep()
    tokens = {line.split()[-1] for line in spare_things(engine, cloud)}
    assert tokens == {token_of(taken), token_of(held)}
    # Nothing kept any more, the record ended after a restart (no handed token known).
    kept.clear()
    running.clear()
    cleanup.remove(record.record_id)
    assert token_of(taken) not in {line.split()[-1] for line in spare_things(engine, cloud)}
    cleanup.sweep()
    assert spare_things(engine, cloud) == []


def test_the_number_of_spares_is_checked():
    assert size_from_env({}) == 1
    assert size_from_env({"CYCLONE_DOCKER_SPARES": "0"}) == 0
    for bad in ("9", "-1", "two"):
        with pytest.raises(SettingError, match="CYCLONE_DOCKER_SPARES"):
            size_from_env({"CYCLONE_DOCKER_SPARES": bad})


# --- records of a real stack -----------------------------------------------------------------


@pytest.fixture
def spare_runs(dapi: httpx.Client, unique: str) -> tuple[Runs, str]:
    """A project without quota on a Docker cloud of its own (its driver keeps the spares)."""
    cloud = f"{unique}-sp"
    body = {"name": cloud, "type": "Docker", "docker": {"host": ENGINE}}
    assert dapi.post("/api/v1/clouds", json=body).status_code == 201
    resp = dapi.post("/api/v1/projects", json=docker_project(unique, cloud, registry=False))
    assert resp.status_code == 201, resp.text
    return Runs(dapi, unique), cloud


def waiting_spare(engine: docker.DockerClient, cloud: str) -> str:
    """The token of the one spare of `cloud` waiting (running, not taken), for wait_for."""
    match = {"label": [SPARE_LABEL, f"{CLOUD_LABEL}={cloud}"], "name": "cyclone-spare-"}
    found = listed(engine, match, stopped=False)
    assert len(found) == 1, [name for name, _ in found]
    return found[0][1][SPARE_LABEL]


def test_a_record_takes_a_spare_with_its_envvars_and_leaves_only_the_next_one(
    spare_runs, app_repo, engine
):
    runs, cloud = spare_runs
    command = ['echo "greeting=$GREETING"', "cat /etc/cyclone-image"]
    runs.pipeline(pipeline("p", app_repo, {"package": {"command": command}}))
    stages = {"codeCheckout": "Success", "package": "Success"}
    first, text = settled_log(runs, "p", runs.run("p")["id"], stages)
    assert first["status"] == "Success" and "taken ready-started" not in text
    token = wait_for(lambda: waiting_spare(engine, cloud), 30)

    second, text = settled_log(runs, "p", runs.run("p")["id"], stages)
    assert second["status"] == "Success", text
    assert f"builder container cyclone-{second['id']}-builder ({IMAGE}) taken" in text
    assert "greeting=hi" in text and "cyclone-test/busybox" in text  # envVars, the image

    def only_the_next_spare() -> bool:
        waiting = waiting_spare(engine, cloud)
        assert waiting != token  # the one made when the second record took the first
        assert spare_things(engine, cloud) == of_token(waiting)
        for record in (first, second):
            left = listed(engine, {"name": record["id"]})
            assert not left, left
        return True

    wait_for(only_the_next_spare, 30)


def test_a_killed_worker_in_a_spare_leaves_nothing_of_it(spare_runs, app_repo, engine):
    from tests.support import worker_pid

    runs, cloud = spare_runs
    runs.pipeline(pipeline("k9", app_repo, {"package": {"command": ["sleep 60"]}}))
    runs.pipeline(pipeline("warm", app_repo, {"package": {"command": ["true"]}}))
    runs.run("warm")  # its start makes the spare the next record takes
    token = wait_for(lambda: waiting_spare(engine, cloud), 30)
    record = runs.start("k9")
    builder = f"cyclone-{record['id']}-builder"
    wait_for(lambda: listed(engine, {"name": builder}, stopped=False), 30)
    assert engine.containers.get(builder).labels[SPARE_LABEL] == token
    pid = worker_pid(record["id"])
    assert pid
    os.kill(pid, signal.SIGKILL)  # it cannot clean up: the cloud service must
    final = runs.wait("k9", record["id"], timeout=30)
    assert final["status"] == "Failed" and "signal 9" in final["errorMessage"]

    def gone() -> bool:
        left = [line for line in spare_things(engine, cloud) if token in line]
        assert not left, left
        return True

    wait_for(gone, 20)
