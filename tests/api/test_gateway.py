"""The gateway's cross-cutting behaviour: auth, error bodies, body limits, probes, documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.api import bodies
from tests.waiting import wait_for

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "cyclone-api-v1.md"


def test_auth_is_required_with_json_errors(stack):
    with httpx.Client(base_url=stack.url) as anon:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic abc"},
            {"Authorization": stack.token},
        ):
            resp = anon.get("/api/v1/projects", headers=headers)
            assert resp.status_code == 401, headers
            assert resp.json()["reason"] == "Unauthorized" and resp.json()["message"]
        ok = anon.get("/api/v1/projects", headers={"Authorization": f"bearer {stack.token}"})
        assert ok.status_code == 200
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/metrics").status_code == 200
        assert anon.get("/api/v1/openapi.json").status_code == 401


def test_unknown_route_and_method_give_json(api):
    resp = api.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["reason"] == "NotFound"
    resp = api.post("/api/v1/configtemplates", json={})
    assert resp.status_code == 405 and resp.json()["reason"] == "MethodNotAllowed"


@pytest.mark.parametrize(
    "content",
    [b"{", b"not json", b"", b"   ", b"\xff\xfe", b'{"name": "a",}'],
    ids=["truncated", "text", "empty", "blank", "binary", "trailing comma"],
)
def test_malformed_bodies_are_400(api, db, content):
    before = db.projects.count_documents({})
    resp = api.post(
        "/api/v1/projects", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["reason"] == "BadRequest"
    assert db.projects.count_documents({}) == before


@pytest.mark.parametrize("body", [[], "text", 42, None], ids=["list", "string", "number", "null"])
def test_non_object_bodies_are_400(api, body):
    resp = api.post("/api/v1/projects", content=json.dumps(body))
    assert resp.status_code == 400 and resp.json()["reason"] == "ValidationFailed"


def test_oversized_body_is_413_and_changes_nothing(api, db, unique):
    body = bodies.project(unique, description="x" * (1024 * 1024))
    resp = api.post("/api/v1/projects", json=body)
    assert resp.status_code == 413 and resp.json()["reason"] == "PayloadTooLarge"

    def chunks():  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"name": "' + unique.encode() + b'", "alias": "'
        for _ in range(17):
            yield b"y" * 65536
        yield b'"}'

    resp = api.post("/api/v1/projects", content=chunks())
    assert resp.status_code == 413
    assert db.projects.count_documents({"name": unique}) == 0


def test_healthz_reports_every_part(stack):
    healthy = {
        "status": "ok",
        "checks": {"mongo": "ok", "scheduler": "ok", "scm": "ok", "logs": "ok", "cloud": "ok"},
    }
    # Each part has 2 s to answer its ping: on a loaded machine one may miss that now and then.
    wait_for(lambda: httpx.get(stack.url + "/healthz").json() == healthy, 30, "a healthy report")


def test_metrics_count_requests_by_route(api, stack):
    api.get("/api/v1/projects/metrics-probe")
    text = httpx.get(stack.url + "/metrics").text
    assert re.search(
        r'cyclone_http_requests_total\{method="GET",route="/api/v1/projects/\{project\}",'
        r'status="404"\} \d',
        text,
    )
    assert "cyclone_http_request_duration_seconds_bucket" in text


def spec_operations() -> set[tuple[str, str]]:
    """Every (method, path) the spec names, in its tables and its detail sections."""
    found = set()
    for m in re.finditer(r"(GET|POST|PUT|PATCH|DELETE) `?(/api/v1/[^`\[?\s]*)", SPEC.read_text()):
        path = m.group(2).rstrip("/").replace("{pipiline}", "{pipeline}")
        found.add((m.group(1).lower(), path))
    return found


def test_openapi_describes_every_spec_path(api):
    doc = api.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    ops = spec_operations()
    assert len({path for _, path in ops}) >= 23
    missing = sorted(p for _, p in ops if p not in doc["paths"])
    assert not missing, missing
    # The spec's integration table says GET for every verb; its detail sections say the truth.
    ops = {(m, p) for m, p in ops if not (p.startswith("/api/v1/integrations") and m == "get")}
    missing_ops = sorted((m, p) for m, p in ops if m not in doc["paths"][p])
    assert not missing_ops, missing_ops
    for extra in ("/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/clouds/{cloud}/ping"):
        assert extra in doc["paths"]


def test_openapi_marks_unrouted_endpoints_planned(api, unique):
    """Each described operation answers (not 404/405 for lack of a route) unless planned."""
    api.post("/api/v1/projects", json=bodies.project(unique))
    doc = api.get("/api/v1/openapi.json").json()
    names = {
        "project": unique,
        "pipeline": "p",
        "integration": "i",
        "recordid": "0" * 24,
        "cloud": "c",
        "pipelineid": "0" * 24,
        "svnrepoid": "u",
        "path": "bin/app",  # an artifact's path (it may hold `/`)
    }
    for path, ops in doc["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: names[m.group(1)], path)
        for method, op in ops.items():
            resp = api.request(method.upper(), concrete, content=b"{}")
            routed = resp.status_code != 405 and not (
                resp.status_code == 404 and "no such endpoint" in resp.text
            )
            if op.get("x-cyclone-status") == "planned":
                assert not routed, (method, path)
            else:
                assert routed, (method, path, resp.status_code)


def test_config_templates(api):
    body = api.get("/api/v1/configtemplates").json()
    assert body["metadata"]["total"] == 6
    names = {t["name"] for t in body["items"]}
    assert names == {"Maven", "Gradle", "Go", "Python", "NodeJS", "PHP"}
    for t in body["items"]:
        assert t["builderImage"] and t["customizedDockerfile"].startswith("FROM ")
        assert set(t) == {
            "name",
            "type",
            "builderImage",
            "testCommands",
            "packageCommands",
            "packageOutputs",
            "customizedDockerfile",
        }
