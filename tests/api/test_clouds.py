"""Clouds: CRUD through the gateway, stored by the cloud service; secrets sealed and masked."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def docker(name: str, host: str = "tcp://127.0.0.1:1", **extra) -> dict:
    return {"name": name, "type": "Docker", "docker": {"host": host, **extra}}


def kubernetes(name: str, **k8s) -> dict:
    base = {
        "host": "https://127.0.0.1:6443",
        "namespace": "cyclone-worker",
        "bearerToken": "k8s-token-123",
    }
    return {"name": name, "type": "Kubernetes", "kubernetes": {**base, **k8s}}


def test_docker_cloud_crud(api, unique):
    resp = api.post("/api/v1/clouds", json=docker(unique, certPath="/etc/docker", insecure=True))
    assert resp.status_code == 201, resp.text
    got = resp.json()
    assert re.fullmatch(r"[0-9a-f]{24}", got["id"]) and got["type"] == "Docker"
    assert TIME_RE.match(got["creationTime"]) and TIME_RE.match(got["lastUpdateTime"])
    assert got["docker"] == {
        "host": "tcp://127.0.0.1:1",
        "certPath": "/etc/docker",
        "insecure": True,
    }
    assert api.get(f"/api/v1/clouds/{unique}").json() == got
    assert unique in [c["name"] for c in api.get("/api/v1/clouds").json()["items"]]
    assert api.post("/api/v1/clouds", json=docker(unique)).status_code == 409
    resp = api.put(f"/api/v1/clouds/{unique}", json=docker(unique, "unix:///var/run/docker.sock"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["docker"]["host"] == "unix:///var/run/docker.sock"
    assert resp.json()["creationTime"] == got["creationTime"]
    assert api.put(f"/api/v1/clouds/{unique}", json=docker(unique + "x")).status_code == 400
    assert (
        api.put(f"/api/v1/clouds/{unique}", json={"name": unique, "type": "Local"}).status_code
        == 400
    )
    assert api.delete(f"/api/v1/clouds/{unique}").status_code == 204
    assert api.get(f"/api/v1/clouds/{unique}").status_code == 404
    assert api.delete(f"/api/v1/clouds/{unique}").status_code == 404
    assert api.put(f"/api/v1/clouds/{unique}", json=docker(unique)).status_code == 404


def test_kubernetes_credentials_sealed_masked_and_kept(api, stack, box, unique):
    from pymongo import MongoClient

    resp = api.post("/api/v1/clouds", json=kubernetes(unique, password="pw", username="u"))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["kubernetes"]["bearerToken"] == "******" and "k8s-token-123" not in resp.text
    client = MongoClient((stack.data_dir / "mongo-url").read_text().strip())
    try:
        raw = client.get_default_database().clouds.find_one({"name": unique})
        assert box.decrypt(raw["kubernetes"]["bearerToken"]) == "k8s-token-123"
        echoed = api.get(f"/api/v1/clouds/{unique}").json()
        echoed["kubernetes"]["namespace"] = "other-ns"
        assert api.put(f"/api/v1/clouds/{unique}", json=echoed).status_code == 200
        after = client.get_default_database().clouds.find_one({"name": unique})
        assert after["kubernetes"]["bearerToken"] == raw["kubernetes"]["bearerToken"]
        assert after["kubernetes"]["namespace"] == "other-ns"
    finally:
        client.close()
    assert "k8s-token-123" not in api.get("/api/v1/clouds").text


@pytest.mark.parametrize(
    "body",
    [
        {"name": "c1", "type": "Mesos"},
        {"name": "c1", "type": "Docker"},
        {"name": "c1", "type": "Docker", "docker": {"host": "http://x"}},
        {"name": "c1", "type": "Docker", "docker": {"host": "tcp://x"}, "kubernetes": {}},
        {"name": "c1", "type": "Docker", "docker": {"host": "tcp://x", "tls": True}},
        {"name": "Bad Name", "type": "Local"},
        {"type": "Local"},
        {"name": "c1", "type": "Kubernetes", "kubernetes": {"host": "h", "bearerToken": "t"}},
        {"name": "c1", "type": "Kubernetes", "kubernetes": {"host": "h", "namespace": "n"}},
        {"name": "c1", "type": "Kubernetes", "kubernetes": {"namespace": "n", "bearerToken": "t"}},
        {"name": "c1", "type": "Local", "docker": {"host": "tcp://x"}},
        [],
    ],
)
def test_invalid_clouds_are_400(api, body, unique):
    if isinstance(body, dict) and body.get("name") == "c1":
        body = {**body, "name": unique}  # a name no other test made: "nothing stored" shows
    resp = api.post("/api/v1/clouds", json=body)
    assert resp.status_code == 400, resp.text
    assert api.get(f"/api/v1/clouds/{unique}").status_code == 404


def test_in_cluster_kubernetes_needs_no_credentials(api, unique):
    body = {
        "name": unique,
        "type": "kubernetes",
        "kubernetes": {"inCluster": True, "namespace": "ci"},
    }
    resp = api.post("/api/v1/clouds", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["type"] == "Kubernetes"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections for the whole test: bound (so no other process gets
    it) but not listening. A well-known one like 6443 may have a real server behind it."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_ping(api, unique, closed_port):
    assert api.post("/api/v1/clouds", json={"name": unique, "type": "Local"}).status_code == 201
    local = api.get(f"/api/v1/clouds/{unique}/ping").json()
    assert local["status"] == "ok" and local["version"].startswith("local ")
    api.post("/api/v1/clouds", json=docker(unique + "-d"))
    down = api.get(f"/api/v1/clouds/{unique}-d/ping", timeout=30).json()
    assert down["status"] == "error" and down["message"]
    host = f"https://127.0.0.1:{closed_port}"
    api.post("/api/v1/clouds", json=kubernetes(unique + "-k", host=host))
    k8s = api.get(f"/api/v1/clouds/{unique}-k/ping").json()
    assert k8s == {  # nothing listens there (tests/cloud/test_kube_ping.py: a fake API server)
        "status": "error",
        "message": f"Kubernetes API at {host}: connection refused",
    }
    assert api.get("/api/v1/clouds/no-such-cloud/ping").status_code == 404
    assert api.get("/api/v1/clouds/no-such-cloud/workers").status_code == 404
    assert api.get(f"/api/v1/clouds/{unique}/workers").json() == {
        "metadata": {"total": 0},
        "items": [],
    }
