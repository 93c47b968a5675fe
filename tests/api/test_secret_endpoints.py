"""A secret follows its endpoint: a write that changes where a stored secret is sent, while the
secret comes back masked or left out, is 400 (SecretRequired), changes nothing and sends
nothing to the new address. And notification URLs are secrets: sealed, masked, kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api import bodies

MASK = "******"


class Recorder:
    """An HTTP server that notes every request (path and Authorization) and answers like a
    Kubernetes API server's /version; stands for "the address a secret would be sent to"."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorder.seen.append((self.path, self.headers.get("Authorization", "")))
                data = json.dumps({"major": "1", "minor": "29", "gitVersion": "v1.29.0"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorders() -> Iterator[tuple[Recorder, Recorder]]:
    old, new = Recorder(), Recorder()
    yield old, new
    old.close()
    new.close()


def refused(resp, field: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["reason"] == "SecretRequired", body
    assert field in body["message"] and "again" in body["message"]
    assert [d["field"] for d in body["details"]] == [field]


# --- clouds -------------------------------------------------------------------------------------


def test_cloud_token_is_not_sent_to_a_new_api_server(api, db, box, unique, recorders):
    old, new = recorders
    cloud = {
        "name": unique,
        "type": "Kubernetes",
        "kubernetes": {"host": old.url, "namespace": "ci", "bearerToken": "k8s-secret-1"},
    }
    assert api.post("/api/v1/clouds", json=cloud).status_code == 201
    stored = db.clouds.find_one({"name": unique})

    echoed = api.get(f"/api/v1/clouds/{unique}").json()
    assert echoed["kubernetes"]["bearerToken"] == MASK
    echoed["kubernetes"]["host"] = new.url
    refused(api.put(f"/api/v1/clouds/{unique}", json=echoed), "kubernetes.bearerToken")
    del echoed["kubernetes"]["bearerToken"]  # left out: the same
    refused(api.put(f"/api/v1/clouds/{unique}", json=echoed), "kubernetes.bearerToken")
    assert db.clouds.find_one({"name": unique})["kubernetes"] == stored["kubernetes"]

    assert api.get(f"/api/v1/clouds/{unique}/ping").json()["status"] == "ok"
    assert old.seen == [("/version/", "Bearer k8s-secret-1")] and new.seen == []

    # Re-sent with the new address: saved, and from then on sent there.
    echoed["kubernetes"]["bearerToken"] = "k8s-secret-2"
    assert api.put(f"/api/v1/clouds/{unique}", json=echoed).status_code == 200
    assert api.get(f"/api/v1/clouds/{unique}/ping").json()["status"] == "ok"
    assert new.seen == [("/version/", "Bearer k8s-secret-2")]
    # The same address with the mask keeps the stored token.
    echoed["kubernetes"]["bearerToken"] = MASK
    echoed["kubernetes"]["namespace"] = "ci2"
    assert api.put(f"/api/v1/clouds/{unique}", json=echoed).status_code == 200
    after = db.clouds.find_one({"name": unique})["kubernetes"]
    assert box.decrypt(after["bearerToken"]) == "k8s-secret-2" and after["namespace"] == "ci2"


# --- integrations -------------------------------------------------------------------------------


def test_integration_token_follows_the_sonarqube_address(api, db, box, unique):
    body = {
        "name": unique,
        "type": "SonarQube",
        "sonarqube": {"address": "https://sonar.example.com", "token": "sonar-1"},
    }
    assert api.post("/api/v1/integrations", json=body).status_code == 201
    stored = db.integrations.find_one({"name": unique})
    path = f"/api/v1/integrations/{unique}"
    echoed = api.get(path).json()
    echoed["sonarqube"]["address"] = "https://elsewhere.example.com"
    refused(api.put(path, json=echoed), "sonarqube.token")
    assert db.integrations.find_one({"name": unique})["sonarqube"] == stored["sonarqube"]

    echoed["sonarqube"]["token"] = "sonar-2"
    assert api.put(path, json=echoed).status_code == 200
    moved = db.integrations.find_one({"name": unique})["sonarqube"]
    assert box.decrypt(moved["token"]) == "sonar-2"
    assert moved["address"] == "https://elsewhere.example.com"
    echoed["sonarqube"]["token"] = MASK
    echoed["sonarqube"]["address"] = "https://elsewhere.example.com/"  # the same address
    assert api.put(path, json=echoed).status_code == 200
    assert db.integrations.find_one({"name": unique})["sonarqube"]["token"] == moved["token"]


# --- the project's registry -----------------------------------------------------------------------


def test_registry_password_follows_the_registry_server(api, db, box, unique):
    assert api.post("/api/v1/projects", json=bodies.project(unique)).status_code == 201
    stored = db.projects.find_one({"name": unique})
    path = f"/api/v1/projects/{unique}"
    resp = api.patch(path, json={"registry": {"server": "registry.evil.example.com"}})
    refused(resp, "registry.password")
    assert db.projects.find_one({"name": unique})["registry"] == stored["registry"]
    assert api.get(path).json()["registry"]["server"] == "127.0.0.1:5000"

    resp = api.patch(path, json={"registry": {"server": "r2:5000", "password": "pw-2"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["registry"]["password"] == MASK
    after = db.projects.find_one({"name": unique})
    assert box.decrypt(after["registry"]["password"]) == "pw-2"
    assert after["scm"]["token"] == stored["scm"]["token"]  # untouched: its server did not move


# --- notification URLs ----------------------------------------------------------------------------

SLACK = "https://hooks.slack.com/services/T0/B0/slack-secret-part"
HOOK = "https://hooks.example.com/cyclone?token=hook-secret-part"


def notified(name: str, *receivers: dict) -> dict:
    body = bodies.pipeline(name)
    body["notification"] = {"policy": "Always", "receivers": list(receivers)}
    return body


def test_notification_urls_are_sealed_masked_and_kept(api, db, box, unique):
    assert api.post("/api/v1/projects", json=bodies.project(unique)).status_code == 201
    pipelines = f"/api/v1/projects/{unique}/pipelines"
    body = notified(
        "notify",
        {"type": "slack", "addresses": [SLACK]},
        {"type": "email", "addresses": ["ops@example.com"]},
        {"type": "webhook", "addresses": [HOOK]},
    )
    resp = api.post(pipelines, json=body)
    assert resp.status_code == 201, resp.text
    answers = [resp.text, api.get(f"{pipelines}/notify").text, api.get(pipelines).text]
    assert not any("secret-part" in text for text in answers)
    shown = resp.json()["notification"]["receivers"]
    assert [r["addresses"] for r in shown] == [[MASK], ["ops@example.com"], [MASK]]
    raw = db.pipelines.find_one(
        {"name": "notify", "projectID": str(db.projects.find_one({"name": unique})["_id"])}
    )
    sealed = [r["addresses"] for r in raw["notification"]["receivers"]]
    assert "secret-part" not in json.dumps(sealed, default=str)
    assert box.decrypt(sealed[0][0]) == SLACK and box.decrypt(sealed[2][0]) == HOOK

    # A PUT of what GET answered keeps the stored URLs.
    echoed = api.get(f"{pipelines}/notify").json()
    echoed["description"] = "changed"
    resp = api.put(f"{pipelines}/notify", json=echoed)
    assert resp.status_code == 200, resp.text
    kept = db.pipelines.find_one({"_id": raw["_id"]})["notification"]["receivers"]
    assert [r["addresses"] for r in kept] == sealed

    # A new URL replaces; a mask where nothing is stored is refused and changes nothing.
    echoed["notification"]["receivers"][2]["addresses"] = ["https://new.example.com/h", MASK]
    resp = api.put(f"{pipelines}/notify", json=echoed)
    assert resp.status_code == 400 and resp.json()["reason"] == "SecretRequired", resp.text
    assert "notification.receivers[2].addresses[1]" in resp.json()["message"]
    echoed["notification"]["receivers"][2]["addresses"] = ["https://new.example.com/h"]
    assert api.put(f"{pipelines}/notify", json=echoed).status_code == 200
    now = db.pipelines.find_one({"_id": raw["_id"]})["notification"]["receivers"]
    assert now[0]["addresses"] == sealed[0]
    assert box.decrypt(now[2]["addresses"][0]) == "https://new.example.com/h"


def test_a_bad_notification_url_is_not_echoed(api, unique):
    assert api.post("/api/v1/projects", json=bodies.project(unique)).status_code == 201
    body = notified("bad", {"type": "slack", "addresses": [SLACK + " oops"]})
    resp = api.post(f"/api/v1/projects/{unique}/pipelines", json=body)
    assert resp.status_code == 400 and "secret-part" not in resp.text
    assert resp.json()["details"][0]["field"] == "notification.receivers[0].addresses[0]"
