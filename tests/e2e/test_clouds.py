"""Records placed on named clouds; the workers list of a cloud."""

from __future__ import annotations

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.waiting import wait_for


def test_named_local_cloud_runs_and_lists_its_workers(api, unique, git_repo, drop):
    cloud = f"{unique}-local"
    assert api.post("/api/v1/clouds", json={"name": cloud, "type": "Local"}).status_code == 201
    body = project_body(unique)
    body["worker"] = {"location": {"cloudName": cloud}}
    assert api.post("/api/v1/projects", json=body).status_code == 201
    runs = Runs(api, unique)
    marker, release = drop / "started", drop / "release"
    # runs until the test releases it, so it still runs while the test looks
    command = f"touch {marker}; while [ ! -e {release} ]; do sleep 0.1; done"
    runs.pipeline(pipeline_body("p", git_repo.url, package=[command]))
    rec = runs.start("p")
    try:
        wait_for(marker.exists, 30)
        workers = api.get(f"/api/v1/clouds/{cloud}/workers").json()
        assert workers["metadata"]["total"] == 1
        worker = workers["items"][0]
        assert worker["recordID"] == rec["id"] and worker["projectName"] == unique
        assert worker["pipelineName"] == "p" and worker["status"] == "Running"
        assert worker["name"] == f"cyclone-worker-{rec['id']}"
        assert api.delete(f"/api/v1/clouds/{cloud}").status_code == 409  # a worker runs there
    finally:
        release.touch()
    assert runs.wait("p", rec["id"])["status"] == "Success"
    wait_for(lambda: api.get(f"/api/v1/clouds/{cloud}/workers").json()["items"] == [], 10)


def test_an_unknown_cloud_fails_the_record_clearly(api, unique, git_repo):
    project = project_body(unique)
    project["worker"] = {"location": {"cloudName": "nowhere"}}
    api.post("/api/v1/projects", json=project)
    runs = Runs(api, unique)
    runs.pipeline(pipeline_body("p", git_repo.url, package=["echo x"]))
    rec = runs.run("p")
    assert rec["status"] == "Failed" and "cloud nowhere not found" in rec["errorMessage"]
