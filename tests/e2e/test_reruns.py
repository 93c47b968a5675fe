"""Reruns on the Local cloud through the whole stack: from the failed stage (earlier stages
reused, their artifacts restored, the original commit checked out though the branch moved),
from the start, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId

from tests.e2e.conftest import Runs, read_lines
from tests.repos import sh


def moving_repo(root: Path) -> tuple[str, Path, str]:
    """A bare repository with main at a first commit; returns (url, work tree, first sha)."""
    repo, work = root / "moving.git", root / "work"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    sh("git", "init", "-q", "-b", "main", str(work))
    (work / "version.txt").write_text("v1\n")
    sh("git", "add", ".", cwd=work)
    sh("git", "commit", "-q", "-m", "v1", cwd=work)
    sh("git", "push", "-q", str(repo), "main", cwd=work)
    return f"file://{repo}", work, sh("git", "rev-parse", "HEAD", cwd=work)


def move_main(work: Path) -> str:
    (work / "version.txt").write_text("v2\n")
    sh("git", "commit", "-q", "-am", "v2", cwd=work)
    sh("git", "push", "-q", str(work.parent / "moving.git"), "main", cwd=work)
    return sh("git", "rev-parse", "HEAD", cwd=work)


def flaky_pipeline(name: str, url: str, drop: Path) -> dict:
    """unitTest keeps a report (and marks each run); package fails on its first try (an
    external counter), and needs the report."""
    count = (
        f"n=$(cat {drop}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {drop}/count; "
        '[ "$n" -ge 2 ] || { echo "flaky: try $n fails"; exit 1; }'
    )
    return {
        "name": name,
        "build": {
            "builderImage": {"image": "local"},
            "stages": {
                "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": url}}},
                "unitTest": {
                    "command": [
                        f"echo unit >> {drop}/marks",
                        "mkdir -p reports && head -c 5000 /dev/urandom > reports/unit.bin",
                        f"cp reports/unit.bin {drop}/unit.bin",
                    ],
                    "outputs": ["reports"],
                },
                "package": {
                    "command": [
                        count,
                        f"cmp reports/unit.bin {drop}/unit.bin",
                        f"cat version.txt > {drop}/version-seen",
                        "mkdir -p bin && cp reports/unit.bin bin/app",
                    ],
                    "outputs": ["bin/app"],
                },
            },
        },
    }


def rerun(runs: Runs, pipeline: str, record: str, body: dict | None = None, **kw):
    return runs.api.post(runs.url(pipeline, record, "/rerun"), json=body, **kw)


def test_rerun_from_failed_reuses_restores_and_pins(runs: Runs, unique, drop, tmp_path):
    url, work, first_sha = moving_repo(tmp_path)
    name = runs.pipeline(flaky_pipeline(f"{unique}-pl", url, drop))
    original = runs.run(name)
    assert original["status"] == "Failed", original
    original = runs.settled(
        name,
        original["id"],
        {"codeCheckout": "Success", "unitTest": "Success", "package": "Failed"},
    )
    assert original["stageStatus"]["unitTest"]["artifacts"] == ["reports/unit.bin"]
    moved = move_main(work)
    assert moved != first_sha

    resp = rerun(runs, name, original["id"], {"from": "failed"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"].endswith(f"/records/{resp.json()['id']}")
    again = resp.json()
    assert again["rerunOf"] == original["id"]
    assert again["performParams"] == original["performParams"]
    done = runs.wait(name, again["id"])
    assert done["status"] == "Success", done
    done = runs.settled(
        name, again["id"], {"codeCheckout": "Success", "unitTest": "Success", "package": "Success"}
    )
    unit, before = done["stageStatus"]["unitTest"], original["stageStatus"]["unitTest"]
    assert unit["reusedFrom"] == original["id"]
    assert (unit["startTime"], unit["endTime"]) == (before["startTime"], before["endTime"])
    assert "reusedFrom" not in done["stageStatus"]["package"]
    assert read_lines(drop / "marks") == ["unit"]  # unitTest ran once, in the original
    assert done["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == first_sha
    assert (drop / "version-seen").read_text() == "v1\n"
    log = runs.log_through(name, again["id"], "Stage: Package status: finish")
    assert f"pinned to {first_sha}" in log
    assert "restored reports/unit.bin" in log
    assert "Stage: Unit test" not in log
    listed = runs.api.get(runs.url(name, again["id"], "/artifacts")).json()
    assert [i["path"] for i in listed["items"]] == ["bin/app"]


def test_rerun_of_a_stage_whose_artifact_is_gone_fails_at_once(runs: Runs, unique, drop, tmp_path):
    url, _work, _sha = moving_repo(tmp_path)
    name = runs.pipeline(flaky_pipeline(f"{unique}-pl", url, drop))
    original = runs.run(name)
    assert original["status"] == "Failed"
    (drop / "count").write_text("-5\n")  # package keeps failing
    second = rerun(runs, name, original["id"], {"from": "failed"}).json()
    second = runs.wait(name, second["id"])
    assert second["status"] == "Failed"
    second = runs.settled(
        name, second["id"], {"codeCheckout": "Success", "unitTest": "Success", "package": "Failed"}
    )
    assert second["stageStatus"]["unitTest"]["reusedFrom"] == original["id"]
    assert runs.api.delete(runs.url(name, original["id"])).status_code == 204
    third = rerun(runs, name, second["id"], {"from": "failed"}).json()
    assert third["stageStatus"]["unitTest"]["reusedFrom"] == original["id"]
    third = runs.wait(name, third["id"])
    assert third["status"] == "Failed"
    want = (
        f'artifact "reports/unit.bin" of stage unitTest (record {original["id"]}) no longer exists'
    )
    assert want in third["errorMessage"], third
    assert read_lines(drop / "marks") == ["unit"]


def test_rerun_from_start_and_refusals(runs: Runs, unique, drop, tmp_path):
    url, _work, first_sha = moving_repo(tmp_path)
    name = runs.pipeline(flaky_pipeline(f"{unique}-pl", url, drop))
    slow = runs.pipeline(
        {
            "name": f"{unique}-slow",
            "build": {
                "builderImage": {"image": "local"},
                "stages": {
                    "codeCheckout": {
                        "mainRepo": {"type": "other", "otherCodeSource": {"url": url}}
                    },
                    "unitTest": {"command": ["sleep 60"]},
                },
            },
        }
    )
    running = runs.start(slow)
    resp = rerun(runs, slow, running["id"], {"from": "start"})
    assert resp.status_code == 409, resp.text
    assert resp.json()["reason"] == "Conflict"
    runs.api.patch(runs.url(slow, running["id"], "/status"), json={"status": "Aborted"})

    original = runs.run(name)
    assert original["status"] == "Failed"
    for body, status in [
        ({"from": "middle"}, 400),
        ({"from": "failed", "extra": 1}, 400),
        ([1], 400),
    ]:
        resp = rerun(runs, name, original["id"], body)
        assert resp.status_code == status, (body, resp.text)
    assert rerun(runs, name, str(ObjectId())).status_code == 404
    assert rerun(runs, f"{unique}-slow", original["id"]).status_code == 404  # other pipeline

    resp = runs.api.post(runs.url(name, original["id"], "/rerun"))  # no body: from the start
    assert resp.status_code == 201, resp.text
    done = runs.wait(name, resp.json()["id"])
    assert done["status"] == "Success"
    assert read_lines(drop / "marks") == ["unit", "unit"]
    assert "reusedFrom" not in done["stageStatus"]["unitTest"]
    assert done["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == first_sha
    resp = rerun(runs, name, done["id"], {"from": "failed"})
    assert resp.status_code == 409, resp.text  # nothing failed
    assert "no failed stage" in resp.json()["message"]


@pytest.mark.parametrize("from_", ["start", "failed"])
def test_reruns_count_in_lists(runs: Runs, unique, drop, tmp_path, from_):
    url, _work, _sha = moving_repo(tmp_path)
    name = runs.pipeline(flaky_pipeline(f"{unique}-pl", url, drop))
    original = runs.run(name)
    again = rerun(runs, name, original["id"], {"from": from_}).json()
    runs.wait(name, again["id"])
    listed = runs.api.get(runs.url(name)).json()
    assert listed["metadata"]["total"] == 2
    assert [r["id"] for r in listed["items"]] == [again["id"], original["id"]]
    assert listed["items"][0]["rerunOf"] == original["id"]
