"""The Grafana dashboard and the Prometheus alert rules: every query parses (promql-parser, a
port of Prometheus' own parser) and names only metrics the stack exports (docs/operations.md,
whose table tests/stack/test_metrics.py checks against a running stack); every alert has a
runbook section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml

from deploy.grafana import make_dashboard
from tests.metricnames import OPERATIONS, documented

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "cyclone.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
SUFFIXES = ("_bucket", "_count", "_sum")


def metrics_in(expr: str) -> set[str]:
    promql_parser.parse(expr)  # raises ValueError on a syntax error
    names = set(re.findall(r"\b(cyclone_[a-z_]+)", expr))
    return {next((n.removesuffix(s) for s in SUFFIXES if n.endswith(s)), n) for n in names}


def test_the_dashboard_file_is_what_its_script_makes():
    assert DASHBOARD.read_text() == make_dashboard.render(), (
        "run: python -m deploy.grafana.make_dashboard"
    )


def test_every_dashboard_query_parses_and_names_exported_metrics():
    board = json.loads(DASHBOARD.read_text())
    known = set(documented())
    used: set[str] = set()
    for panel in board["panels"]:
        assert panel["title"] and panel["targets"], panel
        for target in panel["targets"]:
            names = metrics_in(target["expr"])
            assert names and names <= known, (panel["title"], names - known)
            used |= names
    # the dashboard shows every documented metric but the two health figures
    assert known - used <= {"cyclone_health_checks_total"}, known - used


def test_alert_rules_parse_and_each_has_a_runbook():
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    guide = OPERATIONS.read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^### (\S+)$", guide, re.M)}
    known = set(documented())
    assert len(rules) >= 5
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        names = metrics_in(rule["expr"])
        assert names and names <= known, (rule["alert"], names - known)
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in anchors, f"no '### {rule['alert']}' in operations.md"
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])


@pytest.mark.parametrize("bad", ["sum(rate(cyclone_records[5m])", "cyclone_records >"])
def test_a_broken_query_is_caught(bad):
    with pytest.raises(ValueError):
        metrics_in(bad)
