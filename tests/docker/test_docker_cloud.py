"""Records on a Docker cloud, through the API, against the real engine and registry."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from shared.dockerengine import CLOUD_LABEL, HOST_LABEL, RECORD_LABEL
from tests.docker.conftest import (
    IMAGE,
    REGISTRY,
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    DockerRuns,
    docker_project,
    leftovers,
    no_leftovers,
    pipeline,
    settled_log,
    this_host,
)
from tests.e2e.conftest import Runs
from tests.waiting import wait_for

# Longer than the waits for a record below (up to 180 s): a slow engine fails the wait with
# its message rather than ending the whole session (pytest-timeout's thread method).
pytestmark = pytest.mark.timeout(300)


def containers_of(engine: docker.DockerClient, record_id: str) -> list[Any]:
    # sparse: no inspect per container, which a container removed meanwhile would fail
    return engine.containers.list(filters={"label": [f"{RECORD_LABEL}={record_id}"]}, sparse=True)


def test_commands_run_in_the_builder_image_with_the_workspace_shared(druns: DockerRuns, app_repo):
    host_only = Path(__file__).resolve()  # on the worker's host, not in the image
    druns.pipeline(
        pipeline(
            "p",
            app_repo,
            {
                "unitTest": {
                    "command": [
                        "cat /etc/cyclone-image",
                        f"test ! -e {host_only} && echo host files are not here",
                        'echo $GREETING; test -z "$CYCLONE_AMQP_URI" && echo no worker env',
                        "mkdir -p out && cp app.txt out/app.copy",
                    ]
                },
                "package": {
                    "command": ["cat out/app.copy", "pwd"],
                    "outputs": ["out/*.copy", "**/app.txt"],
                },
            },
        )
    )
    record = druns.run("p")
    stages = {"codeCheckout": "Success", "unitTest": "Success", "package": "Success"}
    record, text = settled_log(druns, "p", record["id"], stages)
    assert record["status"] == "Success", (record, text)
    assert "cyclone-test/busybox" in text  # the image's own file
    assert "host files are not here" in text
    assert "\nhi\n" in text and "no worker env" in text
    assert "hello from the app" in text  # unitTest's file seen by package: one workspace
    assert "/workspace/code" in text
    assert record["stageStatus"]["package"]["outputs"] == ["out/app.copy", "app.txt"]


def test_quota_limits_and_labels_on_the_builder_and_the_workers_list(
    druns: DockerRuns, app_repo, engine, cloud, dapi: httpx.Client, unique
):
    druns.pipeline(pipeline("slow", app_repo, {"package": {"command": ["sleep 30"]}}))
    record = druns.start("slow")
    wait_for(lambda: containers_of(engine, record["id"]), 30)
    builder = engine.containers.get(containers_of(engine, record["id"])[0].id)  # inspected
    host_config = builder.attrs["HostConfig"]
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["Memory"] == 256 * 2**20
    assert host_config["MemoryReservation"] == 64 * 2**20
    labels = builder.labels
    assert labels[RECORD_LABEL] == record["id"]
    assert labels["io.cyclone.project"] == unique and labels["io.cyclone.pipeline"] == "slow"
    assert labels[CLOUD_LABEL] == cloud and labels[HOST_LABEL] == this_host()
    assert builder.image.tags == [IMAGE]
    volumes = engine.volumes.list(filters={"label": [f"{RECORD_LABEL}={record['id']}"]})
    assert len(volumes) == 1
    workers = dapi.get(f"/api/v1/clouds/{cloud}/workers").json()
    assert [w["recordID"] for w in workers["items"]] == [record["id"]]
    assert workers["items"][0]["cloud"] == cloud and workers["items"][0]["status"] == "Running"
    # Abort: the worker stops and everything it made on the engine goes.
    resp = dapi.patch(druns.url("slow", record["id"], "/status"), json={"status": "Aborted"})
    assert resp.status_code == 200, resp.text
    assert druns.wait("slow", record["id"])["status"] == "Aborted"
    wait_for(lambda: no_leftovers(engine, record["id"]), 15)
    wait_for(lambda: dapi.get(f"/api/v1/clouds/{cloud}/workers").json()["items"] == [], 10)


def test_build_integration_test_and_release_then_pull_back(
    druns: DockerRuns, app_repo, engine, unique
):
    druns.pipeline(
        pipeline(
            "full",
            app_repo,
            {
                "package": {"command": ["echo packaged"]},
                "imageBuild": {
                    "buildInfos": [
                        {"taskName": "app", "imageName": "app", "dockerfilePath": "Dockerfile"},
                        {
                            "taskName": "inline",
                            "imageName": "inline:v1",
                            "contextDir": "docker",
                            "dockerfile": f"FROM {IMAGE}\nCOPY only-in-context.txt /ctx.txt\n",
                        },
                    ]
                },
                "integrationTest": {
                    "config": {
                        "imageName": "app",
                        "command": [
                            "cat /app.txt",
                            "echo db is $DB_HOST",
                            "for i in $(seq 1 50); do wget -qO- http://web:8080/cyclone-image"
                            " && exit 0; sleep 0.2; done; exit 1",
                        ],
                        "envVars": [{"name": "DB_HOST", "value": "web"}],
                    },
                    "services": [
                        {
                            "name": "web",
                            "image": IMAGE,
                            "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"],
                            "envVars": [],
                        }
                    ],
                },
                "imageRelease": {
                    "releasePolicies": [
                        {"imageName": "app", "type": "IntegrationTestSuccess"},
                        {"imageName": "inline", "type": "Always"},
                    ]
                },
            },
        )
    )
    record = druns.wait("full", druns.start("full")["id"], timeout=180)
    stages = dict.fromkeys(
        ["codeCheckout", "package", "imageBuild", "integrationTest", "imageRelease"], "Success"
    )
    record, text = settled_log(druns, "full", record["id"], stages)
    assert record["status"] == "Success", (record, text)
    name = record["name"]
    app_ref = f"{REGISTRY}/{unique}/app:{name}"
    inline_ref = f"{REGISTRY}/{unique}/inline:v1"
    build = record["stageStatus"]["imageBuild"]
    assert [(t["name"], t["image"], t["status"]) for t in build["tasks"]] == [
        ("app", app_ref, "Success"),
        ("inline", inline_ref, "Success"),
    ]
    assert all(t["startTime"] and t["endTime"] for t in build["tasks"])
    assert engine.images.get(app_ref) and engine.images.get(f"{REGISTRY}/{unique}/inline:{name}")
    assert "hello from the app" in text and "db is web" in text
    assert "cyclone-test/busybox" in text  # fetched from the service container by name
    release = record["stageStatus"]["imageRelease"]
    assert release["images"] == [app_ref, inline_ref]
    assert [(t["image"], t["status"]) for t in release["tasks"]] == [
        (app_ref, "Success"),
        (inline_ref, "Success"),
    ]
    # Pull both back from the registry, with its credentials, after dropping the local copies.
    auth = {"username": REGISTRY_USER, "password": REGISTRY_PASSWORD}
    for ref in (app_ref, inline_ref):
        engine.images.remove(ref, force=True)
        repository, tag = ref.rsplit(":", 1)
        pulled = engine.images.pull(repository, tag=tag, auth_config=auth)
        assert ref in pulled.tags
    out = engine.containers.run(inline_ref, ["cat", "/ctx.txt"], remove=True)
    assert out == b"ctx\n"


def test_a_failed_integration_test_skips_the_integration_test_success_push(
    druns: DockerRuns, app_repo, engine, unique
):
    druns.pipeline(
        pipeline(
            "gated",
            app_repo,
            {
                "imageBuild": {"buildInfos": [{"imageName": "gated"}, {"imageName": "always"}]},
                "integrationTest": {
                    "config": {"imageName": "gated", "command": ["echo testing", "exit 3"]},
                    "allowFailure": True,
                },
                "imageRelease": {
                    "releasePolicies": [
                        {"imageName": "gated", "type": "IntegrationTestSuccess"},
                        {"imageName": "always", "type": "Always"},
                    ]
                },
            },
        )
    )
    record = druns.wait("gated", druns.start("gated")["id"], timeout=180)
    stages = {
        "codeCheckout": "Success",
        "imageBuild": "Success",
        "integrationTest": "Failed",
        "imageRelease": "Success",
    }
    record, text = settled_log(druns, "gated", record["id"], stages)
    assert record["stageStatus"]["integrationTest"]["status"] == "Failed", (record, text)
    assert record["status"] == "Success"  # allowFailure
    release = record["stageStatus"]["imageRelease"]
    always = f"{REGISTRY}/{unique}/always:{record['name']}"
    assert release["images"] == [always]
    assert "not pushed (IntegrationTestSuccess: integrationTest Failed)" in text
    tags = httpx.get(
        f"http://{REGISTRY}/v2/{unique}/gated/tags/list", auth=(REGISTRY_USER, REGISTRY_PASSWORD)
    )
    assert tags.status_code == 404  # never pushed: the registry does not know the repository


def test_a_build_failure_fails_its_task_and_the_stage(druns: DockerRuns, app_repo):
    druns.pipeline(
        pipeline(
            "broken",
            app_repo,
            {"imageBuild": {"buildInfos": [{"imageName": "broken", "dockerfile": "FROM\n"}]}},
        )
    )
    record = druns.wait("broken", druns.start("broken")["id"], timeout=120)
    assert record["status"] == "Failed"
    # the stage's report (with its tasks) may come a moment after the record's end
    record = druns.settled(
        "broken", record["id"], {"codeCheckout": "Success", "imageBuild": "Failed"}
    )
    task = record["stageStatus"]["imageBuild"]["tasks"][0]
    assert task["status"] == "Failed" and task["name"] == "broken"
    assert "failed: dockerfile parse error line 1: FROM requires" in record["errorMessage"]


def test_a_builder_image_missing_on_the_host_fails_clearly(druns: DockerRuns, app_repo):
    body = pipeline("noimage", app_repo, {"package": {"command": ["true"]}})
    body["build"]["builderImage"]["image"] = "cyclone-test/not-there:1"
    druns.pipeline(body)
    record = druns.wait("noimage", druns.start("noimage")["id"], timeout=60)
    assert record["status"] == "Failed"
    assert "cyclone-test/not-there:1 is not on the Docker host" in record["errorMessage"]


def test_the_local_cloud_builds_images_on_the_configured_engine(
    dapi: httpx.Client, unique, app_repo, engine
):
    body = docker_project(unique, "local", registry=False)
    del body["worker"]
    assert dapi.post("/api/v1/projects", json=body).status_code == 201
    runs = Runs(dapi, unique)
    runs.pipeline(
        pipeline(
            "local",
            app_repo,
            {
                "package": {"command": ["test -e /etc/cyclone-image || echo on the host"]},
                "imageBuild": {"buildInfos": [{"imageName": f"{unique}-local"}]},
                "integrationTest": {
                    "config": {"imageName": f"{unique}-local", "command": ["cat app.txt"]}
                },
            },
        )
    )
    record = runs.wait("local", runs.start("local")["id"], timeout=120)
    stages = dict.fromkeys(["codeCheckout", "package", "imageBuild", "integrationTest"], "Success")
    record, text = settled_log(runs, "local", record["id"], stages)
    assert record["status"] == "Success", (record, text)
    assert "on the host" in text  # commands of a Local cloud stay on the host
    assert engine.images.get(f"{unique}-local:{record['name']}")
    assert "hello from the app" in text  # the code was put into the test container
    wait_for(lambda: no_leftovers(engine, record["id"]), 15)
    engine.images.remove(f"{unique}-local:{record['name']}", force=True)


def test_a_restarted_cloud_service_sweeps_what_a_crash_left(
    docker_stack, dapi: httpx.Client, cloud, engine
):
    stale = secrets.token_hex(12)  # a record of no run, and names no other test uses
    labels = {RECORD_LABEL: stale, CLOUD_LABEL: cloud, HOST_LABEL: this_host()}
    engine.volumes.create(f"cyclone-{stale}-workspace", labels=labels)
    engine.containers.create(IMAGE, ["true"], name=f"cyclone-{stale}-builder", labels=labels)
    other = {**labels, HOST_LABEL: "another-host"}  # another replica's: not ours to remove
    kept = engine.volumes.create(f"cyclone-{stale}-elsewhere", labels=other)
    try:
        old = docker_stack.pids()["cloud"]
        os.kill(old, signal.SIGTERM)
        wait_for(lambda: docker_stack.pids().get("cloud") not in (None, old), 30)
        expected = [f"volume {kept.name}"]
        wait_for(lambda: leftovers(engine, stale) == expected, 30)
    finally:
        kept.remove(force=True)


def test_an_unreachable_engine_fails_the_record_clearly(dapi: httpx.Client, unique, app_repo):
    cloud = f"{unique}-gone"
    body = {"name": cloud, "type": "Docker", "docker": {"host": "tcp://127.0.0.1:1"}}
    assert dapi.post("/api/v1/clouds", json=body).status_code == 201
    assert dapi.post("/api/v1/projects", json=docker_project(unique, cloud)).status_code == 201
    runs = Runs(dapi, unique)
    runs.pipeline(pipeline("p", app_repo, {"package": {"command": ["true"]}}))
    record = runs.wait("p", runs.start("p")["id"], timeout=60)
    assert record["status"] == "Failed"
    assert "the cloud's Docker engine is unusable" in record["errorMessage"], record


def test_a_killed_worker_leaves_nothing_on_the_engine(druns: DockerRuns, app_repo, engine):
    from tests.support import worker_pid

    druns.pipeline(pipeline("k9", app_repo, {"package": {"command": ["sleep 60"]}}))
    record = druns.start("k9")
    wait_for(lambda: containers_of(engine, record["id"]), 30)
    pid = worker_pid(record["id"])
    assert pid
    os.kill(pid, signal.SIGKILL)  # it cannot clean up: the cloud service must
    final = druns.wait("k9", record["id"], timeout=30)
    assert final["status"] == "Failed" and "signal 9" in final["errorMessage"]
    wait_for(lambda: no_leftovers(engine, record["id"]), 20)


def test_a_killed_local_worker_leaves_nothing_on_the_engine(
    dapi: httpx.Client, unique, app_repo, engine
):
    from tests.support import worker_pid

    body = docker_project(unique, "local", registry=False)
    del body["worker"]
    assert dapi.post("/api/v1/projects", json=body).status_code == 201
    runs = Runs(dapi, unique)
    runs.pipeline(
        pipeline(
            "k9local",
            app_repo,
            {
                "imageBuild": {"buildInfos": [{"imageName": f"{unique}-k9"}]},
                "integrationTest": {
                    "config": {"imageName": f"{unique}-k9", "command": ["sleep 60"]}
                },
            },
        )
    )
    record = runs.start("k9local")
    wait_for(lambda: containers_of(engine, record["id"]), 60)
    pid = worker_pid(record["id"])
    assert pid
    os.kill(pid, signal.SIGKILL)
    final = runs.wait("k9local", record["id"], timeout=30)
    assert final["status"] == "Failed"
    wait_for(lambda: no_leftovers(engine, record["id"]), 20)
    for image in engine.images.list(name=f"{unique}-k9"):  # whatever the record is named
        engine.images.remove(image.id, force=True)


def test_a_failed_checkout_leaves_no_builder_started_early(druns: DockerRuns, app_repo, engine):
    """The builder is made while the checkout runs; when the checkout fails, the run still
    ends Failed at codeCheckout and what was made goes (druns checks every record it ran)."""
    druns.pipeline(pipeline("badref", app_repo, {"package": {"command": ["true"]}}))
    record = druns.wait("badref", druns.start("badref", ref="no-such-branch")["id"], timeout=60)
    assert record["status"] == "Failed"
    assert record["stageStatus"]["codeCheckout"]["status"] == "Failed"
    assert "no-such-branch" in record["errorMessage"]


def test_an_abort_while_the_builder_is_being_made_leaves_nothing(
    druns: DockerRuns, app_repo, dapi: httpx.Client, engine
):
    """Aborted as soon as the builder exists on the engine (made on a thread while the
    worker starts and checks out): the record ends Aborted and what was made goes (druns
    checks)."""
    druns.pipeline(pipeline("quick-abort", app_repo, {"package": {"command": ["sleep 30"]}}))
    record = druns.start("quick-abort")
    made = {"label": [f"{RECORD_LABEL}={record['id']}"]}  # created, maybe not started yet
    wait_for(lambda: engine.containers.list(all=True, filters=made, sparse=True), 30, every=0.01)
    resp = dapi.patch(druns.url("quick-abort", record["id"], "/status"), json={"status": "Aborted"})
    assert resp.status_code == 200, resp.text
    assert druns.wait("quick-abort", record["id"], timeout=60)["status"] == "Aborted"
