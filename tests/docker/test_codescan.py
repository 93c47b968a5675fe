"""codeScan: the scanner in a container on the engine, SonarQube's verdict over its API."""

from __future__ import annotations

import httpx
import pytest

from tests.docker.conftest import pipeline, settled_log
from tests.docker.fakesonar import FakeSonar

TOKEN = "sq-token-9f8e7d6c"
# Longer than the 120 s waits for a record below (see tests/docker/test_docker_cloud.py).
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def sonar() -> FakeSonar:
    with FakeSonar(TOKEN) as fake:
        yield fake


@pytest.fixture
def integration(dapi: httpx.Client, unique: str, sonar: FakeSonar) -> str:
    body = {
        "name": f"{unique}-sq",
        "type": "SonarQube",
        "sonarqube": {"address": sonar.url, "token": TOKEN},
    }
    resp = dapi.post("/api/v1/integrations", json=body)
    assert resp.status_code == 201, resp.text
    return body["name"]


def scan_pipeline(name: str, url: str, integration: str) -> dict:
    return pipeline(
        name,
        url,
        {
            "codeScan": {
                "sonarqube": {
                    "name": integration,
                    "config": {"sourcePath": "./", "encodingStyle": "UTF-8", "language": "Java"},
                }
            },
            "package": {"command": ["echo after the scan"]},
        },
    )


def test_code_scan_reports_measures_and_passes_the_gate(druns, app_repo, sonar, integration):
    druns.pipeline(scan_pipeline("scan", app_repo, integration))
    record = druns.wait("scan", druns.start("scan")["id"], timeout=120)
    stages = dict.fromkeys(["codeCheckout", "codeScan", "package"], "Success")
    record, text = settled_log(druns, "scan", record["id"], stages)
    assert record["status"] == "Success", (record, text)
    scan = record["stageStatus"]["codeScan"]
    key = f"cyclone:{druns.project}:scan"
    assert scan["status"] == "Success"
    assert scan["sonarqube"]["measures"] == [
        {"metric": "bugs", "value": "2"},
        {"metric": "coverage", "value": "3.2"},
        {"metric": "reliability_rating", "value": "3.0"},
        {"metric": "ncloc", "value": "120"},
    ]
    assert scan["sonarqube"]["overviewLink"] == f"{sonar.url}/component_measures?id={key}"
    assert "ANALYSIS SUCCESSFUL" in text and "quality gate: OK" in text
    assert f"Analysing {key} in /workspace/code" in text  # the scanner ran over the code
    assert sonar.calls.count("GET /api/ce/task") == 3  # waited through PENDING, IN_PROGRESS
    assert TOKEN not in text


def test_a_failing_quality_gate_fails_the_stage_with_the_measures(
    druns,
    app_repo,
    sonar,
    integration,
):
    sonar.gate = "ERROR"
    druns.pipeline(scan_pipeline("gate", app_repo, integration))
    record = druns.wait("gate", druns.start("gate")["id"], timeout=120)
    assert record["status"] == "Failed"
    # the stages' reports may come a moment after the record's end
    record = druns.settled("gate", record["id"], {"codeCheckout": "Success", "codeScan": "Failed"})
    scan = record["stageStatus"]["codeScan"]
    assert scan["status"] == "Failed"
    assert "quality gate failed: coverage 3.2 (threshold 80)" in record["errorMessage"]
    assert {"metric": "coverage", "value": "3.2"} in scan["sonarqube"]["measures"]
    assert (
        "package" not in record["stageStatus"]
        or record["stageStatus"]["package"]["status"] != "Success"
    )


def test_a_wrong_token_fails_the_stage_clearly(druns, dapi, unique, app_repo, sonar):
    body = {
        "name": f"{unique}-bad",
        "type": "SonarQube",
        "sonarqube": {"address": sonar.url, "token": "nope"},
    }
    assert dapi.post("/api/v1/integrations", json=body).status_code == 201
    druns.pipeline(scan_pipeline("bad", app_repo, f"{unique}-bad"))
    record = druns.wait("bad", druns.start("bad")["id"], timeout=120)
    assert record["status"] == "Failed"
    assert "the SonarQube scanner exited with code 1" in record["errorMessage"]
