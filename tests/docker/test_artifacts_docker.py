"""Artifacts and reruns on the Docker cloud: outputs read from the builder container's
workspace (get_archive's stream), restored into a rerun's new workspace volume before its
code is copied there, and the rerun-from-failed scenario with an integration test that
fails the first time (an external service image decides) on a branch that moved on."""

from __future__ import annotations

import io
from pathlib import Path

import docker
import pytest

from tests.docker.conftest import IMAGE, DockerRuns, pipeline, settled_log
from tests.e2e.artifact_checks import (
    EXPECTED_PATHS,
    PACKAGE,
    check_downloads,
    check_listing,
    sha256,
)
from tests.repos import sh

pytestmark = pytest.mark.timeout(600)


def test_outputs_in_the_builder_container_are_kept(druns: DockerRuns, app_repo):
    """What the build wrote is known by its sha256sum, run in the builder container after
    writing (the container and its volume are gone once the run ends)."""
    name = druns.pipeline(
        pipeline(
            "art",
            app_repo,
            {
                "package": {
                    "command": [*PACKAGE, "sha256sum bin/app dist/lib.so dist/docs/*"],
                    "outputs": ["bin/app", "dist"],
                }
            },
        )
    )
    record = druns.wait(name, druns.start(name)["id"], timeout=180)
    assert record["status"] == "Success", record
    record, log = settled_log(
        druns, name, record["id"], {"codeCheckout": "Success", "package": "Success"}
    )
    assert "artifact: dist/link-to-app left out (a symbolic link)" in log
    hashes = {
        parts[1]: parts[0]
        for line in log.splitlines()
        if len(parts := line.split()) == 2 and len(parts[0]) == 64
    }
    assert sorted(hashes) == sorted(EXPECTED_PATHS)
    wrote = {}
    for path in EXPECTED_PATHS:
        got = druns.api.get(druns.url(name, record["id"], f"/artifacts/{path}"))
        assert got.status_code == 200 and sha256(got.content) == hashes[path], path
        wrote[path] = got.content
    check_listing(druns, name, record, wrote)
    check_downloads(druns, name, record["id"], wrote)


def test_over_the_limit_in_a_container_fails_the_stage(druns: DockerRuns, app_repo):
    name = druns.pipeline(
        pipeline(
            "big",
            app_repo,
            {
                "package": {
                    "command": ["echo small > a.txt", "truncate -s 1100M huge.bin"],
                    "outputs": ["a.txt", "huge.bin"],
                }
            },
        )
    )
    record = druns.wait(name, druns.start(name)["id"], timeout=180)
    assert record["status"] == "Failed", record
    record = druns.settled(name, record["id"], {"codeCheckout": "Success", "package": "Failed"})
    error = record["stageStatus"]["package"]["error"]
    assert 'artifact "huge.bin"' in error and "CYCLONE_ARTIFACTS_MAX_BYTES" in error, error
    listed = druns.api.get(druns.url(name, record["id"], "/artifacts")).json()
    assert listed["metadata"]["total"] == 0


def flag_image(engine: docker.DockerClient, tag: str, flag: str) -> None:
    """The service the integration test asks: it answers `flag` (the external counter)."""
    dockerfile = f"FROM {IMAGE}\nRUN mkdir -p /www && echo {flag} > /www/flag\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)


def test_rerun_from_failed_integration_test(
    druns: DockerRuns, engine: docker.DockerClient, unique: str, tmp_path: Path
):
    repo, work = tmp_path / "app.git", tmp_path / "work"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    sh("git", "init", "-q", "-b", "main", str(work))
    (work / "app.txt").write_text("v1\n")
    (work / "Dockerfile").write_text(
        f'FROM {IMAGE}\nCOPY app.txt /app.txt\nCMD ["cat", "/app.txt"]\n'
    )
    sh("git", "add", ".", cwd=work)
    sh("git", "commit", "-q", "-m", "v1", cwd=work)
    sh("git", "push", "-q", str(repo), "main", cwd=work)
    first_sha = sh("git", "rev-parse", "HEAD", cwd=work)
    flag = f"cyclone-test/flag-{unique}:latest"
    flag_image(engine, flag, "fail")
    try:
        name = druns.pipeline(
            pipeline(
                "flaky",
                f"file://{repo}",
                {
                    "package": {
                        # A mark no second run could repeat: the build's own random bytes.
                        "command": ["mkdir -p bin", "head -c 4096 /dev/urandom > bin/app"],
                        "outputs": ["bin/app"],
                    },
                    "imageBuild": {"buildInfos": [{"imageName": "app"}]},
                    "integrationTest": {
                        "config": {
                            "imageName": "app",
                            "command": [
                                "cat /app.txt",
                                "sha256sum /workspace/code/bin/app",
                                "for i in $(seq 1 50); do wget -qO- http://flag:8080/flag"
                                " > /tmp/flag && break; sleep 0.2; done",
                                'echo "flag: $(cat /tmp/flag)"',
                                "grep -q pass /tmp/flag",
                            ],
                        },
                        "services": [
                            {
                                "name": "flag",
                                "image": flag,
                                "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                                "envVars": [],
                            }
                        ],
                    },
                },
            )
        )
        first = druns.wait(name, druns.start(name)["id"], timeout=180)
        stages = {
            "codeCheckout": "Success",
            "package": "Success",
            "imageBuild": "Success",
            "integrationTest": "Failed",
        }
        first, text = settled_log(druns, name, first["id"], stages)
        assert first["status"] == "Failed" and "flag: fail" in text, (first, text)
        kept = druns.api.get(druns.url(name, first["id"], "/artifacts/bin/app"))
        assert kept.status_code == 200 and len(kept.content) == 4096

        (work / "app.txt").write_text("v2\n")  # the branch moves on
        sh("git", "commit", "-q", "-am", "v2", cwd=work)
        sh("git", "push", "-q", str(repo), "main", cwd=work)
        flag_image(engine, flag, "pass")  # the outside world is fixed

        resp = druns.api.post(druns.url(name, first["id"], "/rerun"), json={"from": "failed"})
        assert resp.status_code == 201, resp.text
        druns.started.append(resp.json()["id"])
        again = druns.wait(name, resp.json()["id"], timeout=180)
        stages = {**stages, "integrationTest": "Success"}
        again, log = settled_log(druns, name, again["id"], stages)
        assert again["status"] == "Success", (again, log)
        assert again["rerunOf"] == first["id"]
        package = again["stageStatus"]["package"]
        assert package["reusedFrom"] == first["id"]
        assert package["startTime"] == first["stageStatus"]["package"]["startTime"]
        assert "Stage: Package" not in log  # not run again
        assert "reusedFrom" not in again["stageStatus"]["imageBuild"]  # built again
        assert "Stage: Build image status: finish" in log
        assert f"{sha256(kept.content)}  /workspace/code/bin/app" in log  # restored
        assert "v1" in log.splitlines() and "flag: pass" in log  # the original commit
        assert again["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"] == first_sha
    finally:
        engine.images.remove(flag, force=True)
