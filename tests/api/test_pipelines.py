"""Pipelines: the whole PipelineObject, both code-source shapes, validation, cascades."""

from __future__ import annotations

import copy

import pytest

from tests.api import bodies


@pytest.fixture
def project(api, unique):
    assert api.post("/api/v1/projects", json=bodies.project(unique)).status_code == 201
    return unique


def url(project, pipeline=""):
    return f"/api/v1/projects/{project}/pipelines" + (f"/{pipeline}" if pipeline else "")


def test_create_stores_main_repo_from_code_sources(api, project):
    body = bodies.pipeline("build")
    body["build"]["stages"]["codeCheckout"]["codeSources"].append(
        {
            "type": "GITLAB",
            "main": False,
            "gitLab": {"url": "https://gitlab.com/a/dep"},
            "folder": "deps/dep",
        }
    )
    resp = api.post(url(project), json=body, headers={"X-User": "bob"})
    assert resp.status_code == 201, resp.text
    got = resp.json()
    checkout = got["build"]["stages"]["codeCheckout"]
    assert checkout["mainRepo"] == {
        "type": "Github",
        "github": {"url": "https://github.com/caicloud/toy", "ref": "master"},
    }
    assert checkout["depRepos"] == [
        {"type": "Gitlab", "gitlab": {"url": "https://gitlab.com/a/dep"}, "folder": "deps/dep"}
    ]
    assert "codeSources" not in checkout
    assert got["owner"] == "bob" and len(got["projectID"]) == 24
    assert got["autoTrigger"] == body["autoTrigger"] and got["annotations"] == {"tenant": "qa"}
    assert api.get(url(project, "build")).json()["build"] == got["build"]


def test_main_repo_shape_and_legacy_keys(api, project):
    body = bodies.pipeline("legacy")
    stages = body["build"]["stages"]
    stages["codeCheckout"] = {
        "mainRepo": {
            "type": "svn",
            "svn": {"url": "svn://127.0.0.1/repo", "username": "u", "password": "svn-secret"},
        }
    }
    stages["imageRelease"] = {
        "releasePolicy": [{"imageName": "toy", "type": "IntegrationTestSuccess"}]
    }
    stages["integrationTest"] = {
        "Config": {
            "imageName": "toy",
            "command": ["./it.sh"],
            "envVars": [{"name": "TOKEN", "value": "it-secret", "secret": True}],
        },
        "services": [{"name": "db", "image": "mongo", "command": ["mongod"]}],
    }
    resp = api.post(url(project), json=body)
    assert resp.status_code == 201, resp.text
    got = resp.json()["build"]["stages"]
    assert got["codeCheckout"]["mainRepo"]["type"] == "SVN"
    assert got["codeCheckout"]["mainRepo"]["svn"]["password"] == "******"
    assert got["imageRelease"] == {
        "releasePolicies": [{"imageName": "toy", "type": "IntegrationTestSuccess"}]
    }
    assert got["integrationTest"]["config"]["envVars"][0]["value"] == "******"
    assert "svn-secret" not in resp.text and "it-secret" not in resp.text


def test_name_from_alias_is_unique_per_project(api, project, unique):
    a = api.post(url(project), json={**bodies.pipeline(), "alias": "Nightly Build"}).json()
    b = api.post(url(project), json={**bodies.pipeline(), "alias": "Nightly Build"}).json()
    assert a["name"] == "nightly-build" and b["name"].startswith("nightly-build-")
    assert api.post(url(project), json=bodies.pipeline("nightly-build")).status_code == 409
    other = unique + "-other"
    api.post("/api/v1/projects", json=bodies.project(other))
    assert api.post(url(other), json=bodies.pipeline("nightly-build")).status_code == 201


def test_unknown_project_is_404(api):
    assert api.post(url("nope-x"), json=bodies.pipeline("p")).status_code == 404
    assert api.get(url("nope-x")).status_code == 404
    assert api.get(url("nope-x", "p")).status_code == 404


def _stages(b):
    return b["build"]["stages"]


BAD_PIPELINES = {
    "no build": lambda b: b.pop("build"),
    "no builder image": lambda b: b["build"]["builderImage"].pop("image"),
    "unknown stage": lambda b: _stages(b).update(deploy={"command": ["x"]}),
    "no checkout": lambda b: _stages(b).pop("codeCheckout"),
    "two main sources": lambda b: _stages(b)["codeCheckout"]["codeSources"].append(
        copy.deepcopy(_stages(b)["codeCheckout"]["codeSources"][0])
    ),
    "no main source": lambda b: _stages(b)["codeCheckout"]["codeSources"][0].update(main=False),
    "source type without block": lambda b: _stages(b)["codeCheckout"]["codeSources"][0].update(
        type="gitlab"
    ),
    "unknown source type": lambda b: _stages(b)["codeCheckout"]["codeSources"][0].update(
        type="bitbucket"
    ),
    "source without url": lambda b: _stages(b)["codeCheckout"]["codeSources"][0]["gitHub"].pop(
        "url"
    ),
    "bad release policy": lambda b: _stages(b)["imageRelease"]["releasePolicies"][0].update(
        type="Sometimes"
    ),
    "bad trigger stage": lambda b: b["autoTrigger"]["scmTrigger"]["push"].update(
        stages=["compile"]
    ),
    "bad cron": lambda b: b["autoTrigger"]["cronTrigger"]["crons"][0].update(
        expression="every day"
    ),
    "six-field cron": lambda b: b["autoTrigger"]["cronTrigger"]["crons"][0].update(
        expression="0 0 2 * * *"
    ),
    "bad env name": lambda b: b["build"]["builderImage"]["envVars"].append(
        {"name": "1BAD", "value": "x"}
    ),
    "command not strings": lambda b: _stages(b)["package"].update(command="make"),
    "image build without image": lambda b: _stages(b)["imageBuild"]["buildInfos"][0].pop(
        "imageName"
    ),
    "empty build infos": lambda b: _stages(b)["imageBuild"].update(buildInfos=[]),
    "service without image": lambda b: _stages(b).update(
        integrationTest={
            "config": {"imageName": "toy", "command": ["t"]},
            "services": [{"name": "db"}],
        }
    ),
    "bad notification policy": lambda b: b["notification"].update(policy="Sometimes"),
    "bad receiver type": lambda b: b["notification"]["receivers"][0].update(type="pager"),
    "annotation not a string": lambda b: b.update(annotations={"a": 1}),
    "description > 100": lambda b: b.update(description="d" * 101),
    "bad name": lambda b: b.update(name="-x"),
    "unknown field deep": lambda b: _stages(b)["package"].update(shell="bash"),
}


@pytest.mark.parametrize("mutate", BAD_PIPELINES.values(), ids=BAD_PIPELINES.keys())
def test_invalid_pipeline_is_400_and_changes_nothing(api, db, project, mutate):
    body = bodies.pipeline("bad")
    mutate(body)
    before = db.pipelines.count_documents({})
    resp = api.post(url(project), json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "ValidationFailed"
    assert db.pipelines.count_documents({}) == before


def test_list_with_paging_and_recent_counts(api, project):
    for i in range(3):
        api.post(url(project), json=bodies.pipeline(f"p{i}"))
    page = api.get(
        url(project),
        params={"limit": 2, "recentCount": 3, "recentSuccessCount": 1, "recentFailedCount": 0},
    ).json()
    assert page["metadata"]["total"] == 3
    assert [p["name"] for p in page["items"]] == ["p2", "p1"]
    for item in page["items"]:
        assert item["recentRecords"] == [] and item["recentSuccessRecords"] == []
        assert item["recentFailedRecords"] == []
    for bad in (
        {"recentCount": "x"},
        {"recentFailedCount": -1},
        {"recentSuccessCount": 101},
        {"start": -2},
        {"limit": 5000},
    ):
        resp = api.get(url(project), params=bad)
        assert resp.status_code == 400, bad
    one = api.get(url(project, "p0"), params={"recentCount": 2}).json()
    assert one["recentRecords"] == []


def test_put_replaces_keeps_identity_and_secrets(api, db, project):
    body = bodies.pipeline("p")
    body["build"]["builderImage"]["envVars"].append(
        {"name": "API_KEY", "value": "env-secret", "secret": True}
    )
    created = api.post(url(project), json=body).json()
    stored = db.pipelines.find_one({"_id": __import__("bson").ObjectId(created["id"])})
    echoed = api.get(url(project, "p")).json()
    echoed["description"] = "changed"
    echoed["build"]["builderImage"]["envVars"].reverse()  # matched by name, not position
    del echoed["notification"]
    resp = api.put(url(project, "p"), json=echoed)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["id"] == created["id"] and got["description"] == "changed"
    assert "notification" not in got and got["creationTime"] == created["creationTime"]
    after = db.pipelines.find_one({"_id": stored["_id"]})
    old_env = {v["name"]: v["value"] for v in stored["build"]["builderImage"]["envVars"]}
    new_env = {v["name"]: v["value"] for v in after["build"]["builderImage"]["envVars"]}
    assert new_env == old_env and new_env["API_KEY"].startswith("enc:v1:")
    resp = api.put(url(project, "p"), json=bodies.pipeline("renamed"))
    assert resp.status_code == 400
    bad = bodies.pipeline("p")
    bad["build"]["stages"]["package"]["command"] = [""]
    assert api.put(url(project, "p"), json=bad).status_code == 400
    assert api.get(url(project, "p")).json()["description"] == "changed"
    assert api.put(url(project, "missing"), json=bodies.pipeline()).status_code == 404


def test_delete_announces_pipeline_deleted(api, db, events, project):
    created = api.post(url(project), json=bodies.pipeline("gone")).json()
    assert api.delete(url(project, "gone")).status_code == 204
    assert api.get(url(project, "gone")).status_code == 404
    got = events.collect(1, where=lambda body: body.get("pipeline_id") == created["id"])
    assert got == [
        (
            "pipeline_deleted",
            {
                "project_id": created["projectID"],
                "project": project,
                "pipeline_id": created["id"],
                "pipeline": "gone",
            },
        )
    ]
    assert api.delete(url(project, "gone")).status_code == 404
