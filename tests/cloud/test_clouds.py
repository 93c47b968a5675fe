"""Clouds through the running service: storage, ping, and the driver a cloud name selects.

Real RabbitMQ, secantusdb and `python -m services.cloud` (tests/cloud/conftest.py); Docker
engines are the stand-ins of tests/cloud/engines.py (no Docker daemon on the test machines).
"""

from __future__ import annotations

import platform
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from services.cloud.backends.pinging import TIMEOUT
from services.cloud.clouds import CloudCatalog
from shared.contracts.errors import Conflict, InvalidRequest, NotFound
from shared.crypto import SecretBox
from shared.timefmt import now, rfc3339
from tests.cloud.engines import VERSION, engine, make_certs, silent_host
from tests.cloud.helpers import SECRET_KEY, new_record_id, plan, seen
from tests.waiting import wait_for

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DOCKER_OK = {
    "status": "ok",
    "version": f"Docker {VERSION['Version']} (API {VERSION['ApiVersion']})",
}


@pytest.fixture(scope="module")
def clouds_collection(mongo_url: str):
    with MongoClient(mongo_url) as client:
        yield client["cyclone"]["clouds"]


def docker(name: str, host: str, **section: Any) -> dict[str, Any]:
    return {"name": name, "type": "Docker", "docker": {"host": host, **section}}


def local(name: str) -> dict[str, Any]:
    return {"name": name, "type": "Local", "description": "this host"}


def test_create_get_list_replace_delete(rpc, clouds_collection, unique):
    created = rpc.cloud.create_cloud(docker(unique, "unix:///var/run/docker.sock"))

    assert set(created) == {"id", "name", "type", "docker", "creationTime", "lastUpdateTime"}
    assert ObjectId.is_valid(created["id"]) and len(created["id"]) == 24
    assert (created["name"], created["type"]) == (unique, "Docker")
    assert created["docker"] == {"host": "unix:///var/run/docker.sock"}
    assert RFC3339.match(created["creationTime"])
    assert created["lastUpdateTime"] == created["creationTime"]
    assert rpc.cloud.get_cloud(unique) == created
    stored = clouds_collection.find_one({"name": unique})
    assert stored["_id"] == ObjectId(created["id"])
    assert isinstance(stored["creationTime"], datetime)  # stored as dates, not strings
    assert isinstance(stored["lastUpdateTime"], datetime)

    with pytest.raises(Conflict, match=f"^cloud {unique} already exists$"):
        rpc.cloud.create_cloud(local(unique))

    # lastUpdateTime has milliseconds: the replace must come at a later one.
    wait_for(lambda: rfc3339(now()) > created["creationTime"], 5, "the clock to move on")
    replaced = rpc.cloud.replace_cloud(
        unique,
        {
            **docker("ignored", "tcp://10.0.0.1:2376", certPath="/certs", insecure=True),
            "id": "0" * 24,
            "creationTime": "2000-01-01T00:00:00.000Z",
        },
    )
    assert (replaced["id"], replaced["name"]) == (created["id"], unique)
    assert replaced["creationTime"] == created["creationTime"]
    assert RFC3339.match(replaced["lastUpdateTime"])
    assert replaced["lastUpdateTime"] > created["lastUpdateTime"]
    assert replaced["docker"] == {
        "host": "tcp://10.0.0.1:2376",
        "certPath": "/certs",
        "insecure": True,
    }
    assert rpc.cloud.get_cloud(unique) == replaced

    assert rpc.cloud.delete_cloud(unique) is None
    for call, args in [
        (rpc.cloud.get_cloud, ()),
        (rpc.cloud.delete_cloud, ()),
        (rpc.cloud.ping_cloud, ()),
        (rpc.cloud.replace_cloud, (local(unique),)),
    ]:
        with pytest.raises(NotFound, match=f"^cloud {unique} not found$"):
            call(unique, *args)
    assert clouds_collection.find_one({"name": unique}) is None


def test_list_is_sorted_by_name(rpc, unique):
    names = [f"{unique}-c", f"{unique}-a", f"{unique}-b"]
    for name in names:
        rpc.cloud.create_cloud(local(name))
    listed = [c["name"] for c in rpc.cloud.list_clouds() if c["name"].startswith(unique)]
    assert listed == sorted(names)
    everything = [c["name"] for c in rpc.cloud.list_clouds()]
    assert everything == sorted(everything)
    for name in names:
        rpc.cloud.delete_cloud(name)


def test_sealed_secrets_are_stored_and_returned_as_given(rpc, clouds_collection, unique):
    sealed = SecretBox(SECRET_KEY).encrypt("s3cret-token")
    doc = {
        "name": unique,
        "type": "Kubernetes",
        "kubernetes": {"host": "https://127.0.0.1:1", "namespace": "ci", "bearerToken": sealed},
    }
    created = rpc.cloud.create_cloud(doc)
    assert created["kubernetes"]["bearerToken"] == sealed
    assert clouds_collection.find_one({"name": unique})["kubernetes"]["bearerToken"] == sealed
    listed = {c["name"]: c for c in rpc.cloud.list_clouds()}
    assert listed[unique]["kubernetes"]["bearerToken"] == sealed
    # The ping uses the decrypted token (test_kube_ping.py checks what the API server sees).
    assert rpc.cloud.ping_cloud(unique) == {
        "status": "error",
        "message": "Kubernetes API at https://127.0.0.1:1: connection refused",
    }
    rpc.cloud.delete_cloud(unique)


def test_secrets_sealed_with_another_key(rpc, unique):
    sealed = SecretBox("another key").encrypt("s3cret-token")
    doc = {"name": unique, "type": "Kubernetes", "kubernetes": {"bearerToken": sealed}}
    rpc.cloud.create_cloud(doc)
    assert rpc.cloud.ping_cloud(unique) == {
        "status": "error",
        "message": f"cannot decrypt the secrets of cloud {unique}: "
        "secret cannot be decrypted with this key",
    }
    rpc.cloud.delete_cloud(unique)


def test_unsealing():
    sealed = SecretBox(SECRET_KEY).encrypt("pw")
    doc = {"name": "k", "kubernetes": {"password": sealed, "hosts": [sealed, "plain"]}}
    catalog = CloudCatalog(store=None, supervisor=None, secret_key=SECRET_KEY)  # type: ignore[arg-type]
    assert catalog.unsealed(doc) == {
        "name": "k",
        "kubernetes": {"password": "pw", "hosts": ["pw", "plain"]},
    }
    plain = {"name": "d", "docker": {"host": "unix:///x"}}
    assert catalog.unsealed(plain) is plain
    keyless = CloudCatalog(store=None, supervisor=None, secret_key="")  # type: ignore[arg-type]
    assert keyless.unsealed(plain) is plain
    with pytest.raises(ValueError, match="CYCLONE_SECRET_KEY is not set"):
        keyless.unsealed(doc)


def test_ping_local(rpc, unique):
    rpc.cloud.create_cloud(local(unique))
    assert rpc.cloud.ping_cloud(unique) == {
        "status": "ok",
        "version": f"local {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}",
    }
    rpc.cloud.delete_cloud(unique)


def test_ping_docker_engines(rpc, unique, tmp_path: Path):
    cert_path, server_tls = make_certs(tmp_path)
    with engine() as plain, engine(server_tls) as secure:
        rpc.cloud.create_cloud(docker(unique, plain))
        assert rpc.cloud.ping_cloud(unique) == DOCKER_OK
        rpc.cloud.replace_cloud(unique, docker(unique, secure, certPath=str(cert_path)))
        assert rpc.cloud.ping_cloud(unique) == DOCKER_OK
        rpc.cloud.replace_cloud(unique, docker(unique, secure))
        answer = rpc.cloud.ping_cloud(unique)
        assert answer["status"] == "error"
        assert answer["message"].startswith(f"Docker engine at {secure}: ")
    rpc.cloud.delete_cloud(unique)


def test_ping_refused_docker_host(rpc, unique):
    rpc.cloud.create_cloud(docker(unique, "tcp://127.0.0.1:1"))
    began = time.monotonic()
    answer = rpc.cloud.ping_cloud(unique)
    assert time.monotonic() - began < 5
    assert answer == {
        "status": "error",
        "message": "Docker engine at tcp://127.0.0.1:1: connection refused",
    }
    rpc.cloud.delete_cloud(unique)


def test_a_pending_ping_blocks_no_other_call(cloud, rpc, unique):
    """A silent engine holds its ping for TIMEOUT s; the service answers others meanwhile."""
    done: dict[str, Any] = {}

    def ping() -> None:
        with ClusterRpcProxy(cloud.config, timeout=15) as own:  # proxies are per thread
            began = time.monotonic()
            done["answer"] = own.cloud.ping_cloud(unique)
            done["took"] = time.monotonic() - began
            done["at"] = time.monotonic()

    with silent_host() as silent:
        host = silent.host
        rpc.cloud.create_cloud(docker(unique, host))
        pinging = threading.Thread(target=ping)
        pinging.start()
        wait_for(silent.connected, 10, "the ping to wait for the engine")
        began = time.monotonic()
        listed = rpc.cloud.list_clouds()
        workers = rpc.cloud.list_workers()
        answered = time.monotonic()
        pinging.join(15)

    assert unique in [c["name"] for c in listed]
    assert isinstance(workers, list)
    assert answered - began < 1
    assert "at" in done and answered < done["at"]  # answered while the ping was pending
    assert done["answer"] == {
        "status": "error",
        "message": f"Docker engine at {host}: no answer within {TIMEOUT} s",
    }
    assert TIMEOUT - 0.5 < done["took"] < 5
    rpc.cloud.delete_cloud(unique)


def test_start_worker_in_a_cloud_that_cannot_work(rpc, unique):
    section = {"inCluster": True}  # but the service does not run in a pod
    rpc.cloud.create_cloud({"name": unique, "type": "Kubernetes", "kubernetes": section})
    record_id = new_record_id()
    message = f"^cloud {unique}: inCluster: KUBERNETES_SERVICE_HOST/PORT are not set"
    with pytest.raises(InvalidRequest, match=message):
        rpc.cloud.start_worker(record_id, "p", "q", {"cloudName": unique})
    assert rpc.cloud.list_workers(unique) == []  # a stored cloud, with no workers
    assert record_id not in {w["recordID"] for w in rpc.cloud.list_workers()}
    rpc.cloud.delete_cloud(unique)


def test_start_worker_in_an_unknown_cloud(rpc, unique):
    with pytest.raises(NotFound, match=f"^cloud {unique} not found$"):
        rpc.cloud.start_worker(new_record_id(), "p", "q", {"cloudName": unique})


def test_workers_of_a_named_local_cloud(cloud, rpc, exits, workers_collection, unique):
    rpc.cloud.create_cloud(local(unique))
    record_id = new_record_id()
    plan(cloud.data_dir, record_id, 600)  # runs until stopped, however long the restart takes

    info = rpc.cloud.start_worker(record_id, "proj", "pipe", {"cloudName": unique})

    assert (info["cloud"], info["recordID"], info["status"]) == (unique, record_id, "Running")
    pid = seen(cloud.data_dir, record_id)["pid"]
    assert [w["recordID"] for w in rpc.cloud.list_workers(unique)] == [record_id]
    assert record_id not in {w["recordID"] for w in rpc.cloud.list_workers("local")}
    assert record_id in {w["recordID"] for w in rpc.cloud.list_workers()}
    stored = workers_collection.find_one({"_id": record_id})
    assert (stored["cloud"], stored["driver"], stored["pid"]) == (unique, "local", pid)
    with pytest.raises(Conflict, match=f"^cloud {unique} has 1 running workers$"):
        rpc.cloud.delete_cloud(unique)

    cloud.stop()  # a restarted service adopts the worker into its cloud again
    cloud.start()
    assert [w["cloud"] for w in rpc.cloud.list_workers(unique)] == [unique]
    with pytest.raises(Conflict):
        rpc.cloud.delete_cloud(unique)

    assert rpc.cloud.stop_worker(record_id) is True
    assert exits.of(record_id)["reason"] == "worker process disappeared (stop requested)"
    wait_for(lambda: rpc.cloud.list_workers(unique) == [], 5, "the worker to be gone")
    rpc.cloud.delete_cloud(unique)
    with pytest.raises(NotFound):
        rpc.cloud.list_workers(unique)
    with pytest.raises(NotFound):
        rpc.cloud.start_worker(new_record_id(), "p", "q", {"cloudName": unique})


def test_built_in_local_names_still_work_without_a_stored_cloud(rpc):
    record_id = new_record_id()
    for name in ("", "local", "Local"):
        info = rpc.cloud.start_worker(record_id, "p", "q", {"cloudName": name})
        assert (info["cloud"], info["recordID"]) == ("local", record_id)
    assert rpc.cloud.stop_worker(record_id) is True
