"""Projects: the whole API surface, validation, secrets at rest, cascades."""

from __future__ import annotations

import re

import pytest

from tests.api import bodies
from tests.waiting import wait_for

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create(api, body, **headers):
    return api.post("/api/v1/projects", json=body, headers=headers)


def test_create_get_and_secrets_never_returned(api, db, box, unique):
    resp = create(api, bodies.project(unique), **{"X-User": "alice"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"/api/v1/projects/{unique}"
    got = resp.json()
    assert re.fullmatch(r"[0-9a-f]{24}", got["id"])
    assert got["name"] == unique and got["owner"] == "alice"
    assert TIME_RE.match(got["creationTime"]) and got["creationTime"] == got["lastUpdateTime"]
    assert got["scm"]["token"] == "******" and got["registry"]["password"] == "******"
    for r in (resp, api.get(f"/api/v1/projects/{unique}"), api.get("/api/v1/projects")):
        assert "scm-token-123" not in r.text and "registry-pw-456" not in r.text
    assert api.get(f"/api/v1/projects/{unique}").json() == got
    raw = db.projects.find_one({"name": unique})
    assert raw["scm"]["token"].startswith("enc:v1:")
    assert box.decrypt(raw["scm"]["token"]) == "scm-token-123"
    assert box.decrypt(raw["registry"]["password"]) == "registry-pw-456"


def test_name_generated_from_alias_and_suffixed_on_collision(api, unique):
    alias = f"My Team {unique} Ünïcode"
    first = create(api, {**bodies.project(), "alias": alias}).json()
    assert first["name"] == f"my-team-{unique}-unicode"
    second = create(api, {**bodies.project(), "alias": alias}).json()
    assert re.fullmatch(rf"my-team-{unique}-unicode-[a-z]{{5}}", second["name"])
    cjk = create(api, {**bodies.project(), "alias": "持续集成"}).json()
    assert re.fullmatch(r"[a-z0-9-]+", cjk["name"])
    symbols = create(api, {**bodies.project(), "alias": "!!!"}).json()
    assert re.fullmatch(r"[a-z]{9}", symbols["name"])


def test_duplicate_name_is_409(api, unique):
    assert create(api, bodies.project(unique)).status_code == 201
    resp = create(api, bodies.project(unique))
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict" and unique in resp.json()["message"]


def test_scm_type_is_case_insensitive(api, unique):
    body = bodies.project(unique)
    body["scm"]["type"] = "gitLAB"
    assert create(api, body).json()["scm"]["type"] == "Gitlab"


BAD_PROJECTS = {
    "no scm": lambda b: b.pop("scm"),
    "unknown scm type": lambda b: b["scm"].update(type="Bitbucket"),
    "scm without server": lambda b: b["scm"].pop("server"),
    "no credentials": lambda b: b["scm"].pop("token"),
    "password without username": lambda b: (
        b["scm"].pop("username"),
        b["scm"].update(password="p"),
    ),
    "bad name": lambda b: b.update(name="Bad_Name!"),
    "name with double dash": lambda b: b.update(name="a--b"),
    "name too long": lambda b: b.update(name="a" * 64),
    "name and alias missing": lambda b: b.pop("name"),
    "description > 100": lambda b: b.update(description="x" * 101),
    "name not a string": lambda b: b.update(name=5),
    "unknown top-level field": lambda b: b.update(colour="red"),
    "unknown nested field": lambda b: b["scm"].update(branch="main"),
    "registry without repository": lambda b: b["registry"].pop("repository"),
    "bad quota": lambda b: b.update(worker={"quota": {"limits.cpu": "lots"}}),
    "unknown quota key": lambda b: b.update(worker={"quota": {"gpu": "1"}}),
    "location without cloud": lambda b: b.update(worker={"location": {"namespace": "x"}}),
    "scm as a list": lambda b: b.update(scm=["Github"]),
}


@pytest.mark.parametrize("mutate", BAD_PROJECTS.values(), ids=BAD_PROJECTS.keys())
def test_invalid_project_is_400_and_changes_nothing(api, db, unique, mutate):
    body = bodies.project(unique)
    mutate(body)
    before = db.projects.count_documents({})
    resp = create(api, body)
    assert resp.status_code == 400, resp.text
    err = resp.json()
    assert err["reason"] == "ValidationFailed" and err["message"]
    assert isinstance(err["details"], list) and err["details"][0]["field"]
    assert db.projects.count_documents({}) == before


def test_quota_accepts_original_keys(api, unique):
    body = bodies.project(
        unique,
        worker={
            "location": {"cloudName": "local", "namespace": "ci"},
            "quota": {"limitsCPU": "2", "requests.memory": "512Mi"},
            "dependencyCaches": {"Maven": {"name": "m2"}},
        },
    )
    got = create(api, body).json()
    assert got["worker"]["quota"] == {"limits.cpu": "2", "requests.memory": "512Mi"}


def test_get_missing_is_404_json(api):
    resp = api.get("/api/v1/projects/no-such-project")
    assert resp.status_code == 404
    assert resp.json() == {"message": "project no-such-project not found", "reason": "NotFound"}


def test_list_pages_newest_first(api, unique):
    names = [f"{unique}-{i}" for i in range(5)]
    for name in names:
        assert create(api, bodies.project(name)).status_code == 201
    page = api.get("/api/v1/projects", params={"start": 0, "limit": 3}).json()
    total = page["metadata"]["total"]
    assert total >= 5 and len(page["items"]) == 3
    assert [p["name"] for p in page["items"]] == names[::-1][:3]
    rest = api.get("/api/v1/projects", params={"start": 3, "limit": 2}).json()
    assert [p["name"] for p in rest["items"]] == names[::-1][3:5]
    assert rest["metadata"]["total"] == total
    assert len(api.get("/api/v1/projects").json()["items"]) == min(total, 1000)


@pytest.mark.parametrize(
    "params",
    [
        {"start": -1},
        {"limit": -5},
        {"limit": 1001},
        {"limit": 10**12},
        {"start": "x"},
        {"limit": "1.5"},
    ],
)
def test_bad_paging_is_400(api, params):
    resp = api.get("/api/v1/projects", params=params)
    assert resp.status_code == 400
    assert resp.json()["reason"] == "BadRequest"


def test_put_replaces_and_keeps_secrets_left_out_or_masked(api, db, box, unique):
    create(api, bodies.project(unique, alias="Old"))
    stored = db.projects.find_one({"name": unique})
    current = api.get(f"/api/v1/projects/{unique}").json()  # secrets come back masked
    current["description"] = "new description"
    del current["alias"]
    resp = api.put(f"/api/v1/projects/{unique}", json=current)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["description"] == "new description" and "alias" not in got
    assert got["creationTime"] == current["creationTime"]
    assert got["lastUpdateTime"] >= current["lastUpdateTime"]
    after = db.projects.find_one({"name": unique})
    assert after["scm"]["token"] == stored["scm"]["token"]
    assert after["registry"]["password"] == stored["registry"]["password"]
    body = bodies.project(unique)
    del body["scm"]["token"], body["registry"]["password"]
    assert api.put(f"/api/v1/projects/{unique}", json=body).status_code == 200
    assert box.decrypt(db.projects.find_one({"name": unique})["scm"]["token"]) == "scm-token-123"
    body["scm"]["token"] = "rotated"
    assert api.put(f"/api/v1/projects/{unique}", json=body).status_code == 200
    assert box.decrypt(db.projects.find_one({"name": unique})["scm"]["token"]) == "rotated"


def test_put_cannot_rename_or_drop_credentials(api, db, unique):
    create(api, bodies.project(unique))
    body = bodies.project(unique + "x")
    resp = api.put(f"/api/v1/projects/{unique}", json=body)
    assert resp.status_code == 400 and "name cannot be changed" in resp.json()["message"]
    body = bodies.project(unique)
    body["scm"]["token"] = ""
    resp = api.put(f"/api/v1/projects/{unique}", json=body)
    assert resp.status_code == 400
    assert db.projects.find_one({"name": unique})["scm"]["token"].startswith("enc:v1:")
    assert api.put("/api/v1/projects/nope-nope", json=bodies.project()).status_code == 404


def test_patch_is_a_partial_update(api, db, unique):
    create(api, bodies.project(unique, alias="Keep me"))
    stored = db.projects.find_one({"name": unique})
    resp = api.patch(f"/api/v1/projects/{unique}", json={"description": "patched"})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["description"] == "patched" and got["alias"] == "Keep me"
    assert got["scm"]["server"] == "https://github.com"
    after = db.projects.find_one({"name": unique})
    assert after["scm"]["token"] == stored["scm"]["token"]
    resp = api.patch(f"/api/v1/projects/{unique}", json={"registry": None})
    assert "registry" not in resp.json()
    bad = api.patch(f"/api/v1/projects/{unique}", json={"scm": {"type": "Nope"}})
    assert bad.status_code == 400
    assert api.get(f"/api/v1/projects/{unique}").json()["scm"]["type"] == "Github"
    assert api.patch(f"/api/v1/projects/{unique}", json=[1]).status_code == 400


def test_delete_cascades_to_pipelines_and_announces_it(api, db, events, unique):
    create(api, bodies.project(unique))
    ids = [
        api.post(f"/api/v1/projects/{unique}/pipelines", json=bodies.pipeline(f"p{i}")).json()["id"]
        for i in range(2)
    ]
    project_id = api.get(f"/api/v1/projects/{unique}").json()["id"]
    resp = api.delete(f"/api/v1/projects/{unique}")
    assert resp.status_code == 204 and resp.content == b""
    assert api.get(f"/api/v1/projects/{unique}").status_code == 404
    assert db.pipelines.count_documents({"projectID": project_id}) == 0
    got = events.collect(3, where=lambda body: body.get("project_id") == project_id)
    kinds = sorted(kind for kind, _ in got)
    assert kinds == ["pipeline_deleted", "pipeline_deleted", "project_deleted"]
    project_event = next(body for kind, body in got if kind == "project_deleted")
    assert project_event["project_id"] == project_id and project_event["project"] == unique
    assert sorted(project_event["pipeline_ids"]) == sorted(ids)
    assert {b["pipeline_id"] for k, b in got if k == "pipeline_deleted"} == set(ids)

    # Each outbox entry goes right after its publish, which may be another gateway worker's
    # (its flusher claimed it): a moment after the response, or after the events arrived.
    def outbox_emptied() -> bool:
        left = list(db.outbox.find({"payload.project_id": project_id}))
        assert not left, left
        return True

    wait_for(outbox_emptied, 10, "the outbox entries to go")
    assert api.delete(f"/api/v1/projects/{unique}").status_code == 404
