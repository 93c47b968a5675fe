"""After a passing and a failing run, the stack's /metrics has every metric docs/operations.md
lists, summed over all its processes, with the values those runs moved."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.metricnames import documented
from tests.repos import make_git_repo
from tests.waiting import wait_for


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{metric name: [(labels, value), ...]}, histograms by their _count samples."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_sum", "_created")):
                continue
            name = sample.name.removesuffix("_count")
            if family.type == "counter":
                name = family.name + "_total"
            found.setdefault(name, []).append((sample.labels, sample.value))
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if labels.items() <= got.items())


def test_every_documented_metric_is_exported_and_moved_by_runs(stack, tmp_path):
    repo = make_git_repo(tmp_path)
    project = f"t{uuid.uuid4().hex[:10]}"
    with stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(project)).status_code == 201
        runs = Runs(api, project)
        runs.pipeline(pipeline_body("ok", repo.url, package=["echo fine"]))
        runs.pipeline(pipeline_body("bad", repo.url, package=["echo no; exit 3"]))
        before = scrape(stack.url)
        assert runs.run("ok")["status"] == "Success"
        assert runs.run("bad")["status"] == "Failed"

    def moved() -> dict:
        now = scrape(stack.url)
        delta = {
            name: value(now, name, **labels) - value(before, name, **labels)
            for name, labels in (
                ("cyclone_records_created_total", {"trigger": "user"}),
                ("cyclone_records_finished_total", {"status": "Success", "cloud": "local"}),
                ("cyclone_records_finished_total", {"status": "Failed", "cloud": "local"}),
                ("cyclone_record_queue_wait_seconds", {}),
                ("cyclone_dispatch_duration_seconds", {"cloud": "local"}),
                ("cyclone_stage_duration_seconds", {"stage": "package", "status": "Failed"}),
                ("cyclone_worker_starts_total", {"cloud": "local", "result": "ok"}),
                ("cyclone_worker_exits_total", {"cloud": "local"}),
                ("cyclone_log_lines_ingested_total", {}),
                ("cyclone_rpc_duration_seconds", {"service": "scheduler", "outcome": "ok"}),
                ("cyclone_event_handler_duration_seconds", {"service": "scheduler"}),
                ("cyclone_http_requests_total", {"method": "POST", "status": "201"}),
            )
        }
        low = {k: v for k, v in delta.items() if v < 1}
        assert not low, f"not moved yet: {low}"
        assert "cyclone_records" in now  # counted every 5 s
        return now

    # the worker exits and the last stage reports reach the services a moment after the end
    now = wait_for(moved, 30, "the runs in the metrics")
    assert value(now, "cyclone_records_created_total") >= 2
    missing = [name for name in documented() if name not in now]
    assert missing == [], f"documented but not exported: {missing}"
