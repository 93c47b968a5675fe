"""Writes deploy/grafana/cyclone.json, the Grafana dashboard over Cyclone's metrics.

The panels are listed here, one line each, rather than edited in a 1,000-line JSON file:
`python -m deploy.grafana.make_dashboard` rewrites it, and tests/unit/test_monitoring_files.py
checks that the file is what this makes and that every query parses and names metrics the
stack exports (docs/operations.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("cyclone.json")
RATE = "5m"


def p95(metric: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.95, sum by ({group}) (rate({metric}_bucket[{RATE}])))"


# (title, unit, [(query, legend)]) per panel, in rows of two
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Runs created and ended per minute",
        "short",
        [
            (f"sum by (status) (rate(cyclone_records_finished_total[{RATE}])) * 60", "{{status}}"),
            (f"sum(rate(cyclone_records_created_total[{RATE}])) * 60", "created"),
        ],
    ),
    ("Queue: Pending and Running", "short", [("sum by (status) (cyclone_records)", "{{status}}")]),
    (
        "Time Pending before dispatch (p50, p95)",
        "s",
        [
            (
                "histogram_quantile(0.5, sum by (le) "
                f"(rate(cyclone_record_queue_wait_seconds_bucket[{RATE}])))",
                "p50",
            ),
            (p95("cyclone_record_queue_wait_seconds"), "p95"),
        ],
    ),
    ("Scheduler upkeep pass (p95; stays under its 1 s period)", "s", [(p95("cyclone_scheduler_upkeep_seconds"), "p95")]),
    ("Worker start time (p95) by cloud", "s", [(p95("cyclone_dispatch_duration_seconds", "cloud"), "{{cloud}}")]),
    ("Stage duration (p95)", "s", [(p95("cyclone_stage_duration_seconds", "stage"), "{{stage}}")]),
    (
        "Worker starts and exits by result",
        "short",
        [
            (f"sum by (cloud, result) (rate(cyclone_worker_starts_total[{RATE}])) * 60", "start {{cloud}} {{result}}"),
            (f"sum by (cloud, result) (rate(cyclone_worker_exits_total[{RATE}])) * 60", "exit {{cloud}} {{result}}"),
        ],
    ),
    (
        "Log lines stored per second, batches dropped",
        "short",
        [
            (f"sum(rate(cyclone_log_lines_ingested_total[{RATE}]))", "lines/s"),
            (f"sum by (reason) (increase(cyclone_log_batches_dropped_total[{RATE}]))", "dropped {{reason}}"),
        ],
    ),
    ("Live log followers", "short", [("sum(cyclone_live_followers)", "followers")]),
    (
        "Event retries and dead letters",
        "short",
        [
            (f"sum by (service) (increase(cyclone_event_retries_total[{RATE}]))", "retried {{service}}"),
            (f"sum by (service) (increase(cyclone_dead_letters_total[{RATE}]))", "dead {{service}}"),
        ],
    ),
    (
        "Webhook deliveries by result",
        "short",
        [(f"sum by (provider, result) (increase(cyclone_webhook_deliveries_total[{RATE}]))", "{{provider}} {{result}}")],
    ),
    ("Outbox backlog", "short", [("max by (outbox) (cyclone_outbox_backlog)", "{{outbox}}")]),
    ("RPC time (p95) by service", "s", [(p95("cyclone_rpc_duration_seconds", "service"), "{{service}}")]),
    (
        "RPC and event errors per second",
        "short",
        [
            (f'sum by (service) (rate(cyclone_rpc_duration_seconds_count{{outcome="error"}}[{RATE}]))', "rpc {{service}}"),
            (f'sum by (service) (rate(cyclone_event_handler_duration_seconds_count{{outcome="error"}}[{RATE}]))', "event {{service}}"),
        ],
    ),
    (
        "API requests per second by status",
        "reqps",
        [(f"sum by (status) (rate(cyclone_http_requests_total[{RATE}]))", "{{status}}")],
    ),
    ("API time (p95) by route", "s", [(p95("cyclone_http_request_duration_seconds", "route"), "{{route}}")]),
]  # fmt: skip


def panel(index: int, title: str, unit: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    return {
        "title": "Cyclone",
        "uid": "cyclone-overview",
        "description": "Runs, queue, workers, logs, deliveries and the bus (docs/operations.md)",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["cyclone", "ci"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
