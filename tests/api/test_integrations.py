"""Integrations (SonarQube): CRUD, immutable name and type, token encrypted and masked."""

from __future__ import annotations

import pytest

from tests.api import bodies


def test_crud_with_masked_token(api, db, box, unique):
    resp = api.post("/api/v1/integrations", json=bodies.integration(unique))
    assert resp.status_code == 201, resp.text
    got = resp.json()
    assert got["sonarqube"]["token"] == "******" and got["type"] == "SonarQube"
    assert "sonar-token-789" not in resp.text
    raw = db.integrations.find_one({"name": unique})
    assert box.decrypt(raw["sonarqube"]["token"]) == "sonar-token-789"
    listed = api.get("/api/v1/integrations").json()
    assert unique in [i["name"] for i in listed["items"]]
    assert "sonar-token-789" not in api.get("/api/v1/integrations").text
    body = api.get(f"/api/v1/integrations/{unique}").json()
    body["sonarqube"]["description"] = "changed"  # the masked token is kept...
    resp = api.put(f"/api/v1/integrations/{unique}", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["sonarqube"]["description"] == "changed"
    # ... but not sent to another address (tests/api/test_secret_endpoints.py)
    body["sonarqube"]["address"] = "https://sonar.example.com"
    assert api.put(f"/api/v1/integrations/{unique}", json=body).status_code == 400
    assert (
        db.integrations.find_one({"name": unique})["sonarqube"]["token"]
        == raw["sonarqube"]["token"]
    )
    assert api.delete(f"/api/v1/integrations/{unique}").status_code == 204
    assert api.get(f"/api/v1/integrations/{unique}").status_code == 404
    assert api.delete(f"/api/v1/integrations/{unique}").status_code == 404


def test_name_and_type_are_immutable(api, unique):
    api.post("/api/v1/integrations", json=bodies.integration(unique))
    resp = api.put(f"/api/v1/integrations/{unique}", json=bodies.integration(unique + "-2"))
    assert resp.status_code == 400
    assert api.post("/api/v1/integrations", json=bodies.integration(unique)).status_code == 409


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["sonarqube"].pop("token"),
        lambda b: b.update(type="Jenkins"),
        lambda b: b["sonarqube"].update(address="not a url"),
        lambda b: b.pop("sonarqube"),
        lambda b: b.update(extra=True),
        lambda b: b.pop("alias"),
    ],
    ids=["no token", "bad type", "bad address", "no sonarqube", "unknown field", "no name/alias"],
)
def test_invalid_integration_is_400(api, db, mutate):
    body = bodies.integration()
    mutate(body)
    before = db.integrations.count_documents({})
    resp = api.post("/api/v1/integrations", json=body)
    assert resp.status_code == 400, resp.text
    assert db.integrations.count_documents({}) == before
