"""The registry of cloud backends (services/cloud/backends): one backend per cloud type,
which driver a placement gets, pings by type; and the launch environment the drivers write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.cloud import backends
from services.cloud.backends import pinging
from services.cloud.backends.base import Driver, DriverContext
from services.cloud.backends.docker.driver import DockerDriver
from services.cloud.backends.kubernetes import pods
from services.cloud.backends.local.driver import LocalDriver
from shared.contracts import launch
from shared.contracts.errors import InvalidRequest, NotFound
from shared.contracts.launch import WorkerLaunch
from shared.workertoken import WorkerTokens
from tests.cloud.helpers import new_record_id

AMQP = "amqp://guest:guest@127.0.0.1:5672/test"


def test_one_backend_per_cloud_type_each_with_its_own_kind():
    assert set(backends.BACKENDS) == set(launch.CLOUD_TYPES) == {"Local", "Docker", "Kubernetes"}
    kinds = [b.kind for b in backends.BACKENDS.values()]
    assert kinds == ["local", "docker", "kubernetes"]  # stored with every worker: never change
    assert [t for t, b in backends.BACKENDS.items() if b.serve_at_start] == ["Docker"]


@pytest.mark.parametrize(
    ("name", "stored", "chosen"),
    [
        (None, None, ("local", "local")),
        ("", None, ("local", "local")),
        ("Local", None, ("local", "local")),  # not stored: the built-in name, as before
        ("dev", {"name": "dev", "type": "Local"}, ("dev", "local")),
        ("local", {"name": "local", "type": "Local"}, ("local", "local")),
        ("c1", {"name": "c1", "type": "Docker"}, ("c1", "docker")),
        ("c1", {"name": "c1", "type": "Kubernetes"}, ("c1", "kubernetes")),
    ],
)
def test_driver_for(name, stored, chosen):
    assert backends.driver_for(name, stored) == chosen


def test_driver_for_an_unknown_type():
    message = "^cloud c1 is of type Mesos, whose driver is not available yet$"
    with pytest.raises(InvalidRequest, match=message):
        backends.driver_for("c1", {"name": "c1", "type": "Mesos"})


def test_driver_for_unknown_names():
    with pytest.raises(NotFound, match=r"^cloud nowhere not found$"):
        backends.driver_for("nowhere", None)


def test_ping_goes_to_the_backend_of_the_type():
    assert backends.ping({"name": "l", "type": "Local"})["status"] == "ok"
    assert backends.ping({"name": "x", "type": "Swarm"}) == pinging.error(
        "unknown cloud type 'Swarm'"
    )


def test_every_backend_makes_drivers_of_its_kind(tmp_path: Path):
    context = DriverContext(tmp_path, AMQP, host="h", environ={})
    for cloud_type, backend in backends.BACKENDS.items():
        driver: Driver = backend.drivers(context)(f"a {cloud_type} cloud")
        assert (driver.kind, driver.cloud) == (backend.kind, f"a {cloud_type} cloud")
        assert driver.list() == []


# --- the launch environment -------------------------------------------------------------------


def test_launch_round_trips_through_the_environment():
    full = WorkerLaunch(
        cloud_type="Docker",
        record_id="0123456789abcdef01234567",
        amqp_uri=AMQP,
        token="tok",
        quorum_queues=True,
        cloud="docker1",
        host="h#2",
        build_user="cyclone-build",
        docker={"host": "tcp://engine:2376", "certPath": "/certs", "insecure": True},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        workspace="/workspace",
        builder_container="builder",
        spare_builder="cyclone-spare-0a1b2c3d4e5f-builder",
        pod_name="cyclone-worker-x",
        pod_namespace="ci",
    )
    env = full.to_env()
    assert set(env) == set(launch.NAMES)
    assert env[launch.EXECUTOR] == "docker"
    assert env[launch.QUORUM_QUEUES] == "on"
    assert WorkerLaunch.from_env(env) == full
    for cloud_type in launch.CLOUD_TYPES:
        again = WorkerLaunch.from_env(WorkerLaunch(cloud_type=cloud_type).to_env())
        assert again.cloud_type == cloud_type


def test_an_empty_environment_is_a_local_launch():
    assert WorkerLaunch.from_env({}) == WorkerLaunch()
    assert WorkerLaunch.from_env({launch.EXECUTOR: "KUBERNETES"}).cloud_type == "Kubernetes"
    with pytest.raises(launch.LaunchError, match="Mesos"):
        WorkerLaunch.from_env({launch.EXECUTOR: "Mesos"})


def test_a_pod_takes_credentials_from_its_secret_and_the_rest_from_its_spec():
    record_id = new_record_id()
    settings = pods.PodSettings(amqp_uri=AMQP, quorum_queues=True)
    pod = pods.pod_manifest(record_id, "p", "q", "k8s", {}, "ci", settings)
    secret = pods.secret_manifest(record_id, "ci", {}, AMQP, "tok")
    worker = next(c for c in pod["spec"]["containers"] if c["name"] == pods.WORKER)
    plain = {e["name"]: e.get("value") for e in worker["env"]}
    assert set(secret["data"]) == launch.SECRET
    assert not launch.SECRET & set(plain)
    assert plain[launch.EXECUTOR] == "kubernetes"
    assert plain[launch.QUORUM_QUEUES] == "on"
    assert plain[launch.RECORD_ID] == record_id
    assert plain[launch.POD_NAME] is None  # the downward API's
    assert set(pods.DOWNWARD_ENV) == {launch.POD_NAME, launch.POD_NAMESPACE}


def test_workers_on_this_host_get_their_launch_and_nothing_of_the_stack(tmp_path: Path):
    environ = {
        **os.environ,
        "CYCLONE_SECRET_KEY": "k",
        launch.EXECUTOR: "kubernetes",  # a launch variable of the service's own: not passed on
        launch.POD_NAME: "the-service-pod",
    }
    engine = {"host": "unix:///var/run/docker.sock", "certPath": "", "insecure": False}
    tokens = WorkerTokens("a key")
    context = DriverContext(tmp_path, AMQP, host="h", tokens=tokens, environ=environ)
    record_id = new_record_id()

    local = LocalDriver("local", context, build_user="someone", engine=engine)
    local_launch = local.launch_of(record_id)
    env = local.processes.worker_env(local_launch)
    assert local_launch.cloud_type == "Local"
    assert WorkerLaunch.from_env(env) == local_launch
    assert env[launch.TOKEN] == tokens.issue(record_id)
    assert env[launch.BUILD_USER] == "someone"
    assert env[launch.DOCKER_HOST] == engine["host"]
    assert launch.POD_NAME not in env and "CYCLONE_SECRET_KEY" not in env

    context = DriverContext(
        tmp_path,
        AMQP,
        host="h",
        environ=environ,
        find=lambda name: {"name": name, "type": "Docker", "docker": engine},
    )
    docker = DockerDriver("docker1", context)
    env = docker.processes.worker_env(docker.launch_of(record_id))
    launched = WorkerLaunch.from_env(env)
    assert (launched.cloud_type, launched.cloud, launched.host) == ("Docker", "docker1", "h")
    assert launched.docker == engine
    assert launched.build_user == ""
