"""Pure rules of the codeScan stage: the scanner's arguments, its report file, SonarQube's
answers (task, quality gate, measures) read into what the record shows."""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.contracts.catalog import SonarConfig
from shared.contracts.records import Measure

REPORT = ".scannerwork/report-task.txt"  # where sonar-scanner writes what it submitted
METRICS = (
    "alert_status",
    "bugs",
    "vulnerabilities",
    "code_smells",
    "coverage",
    "duplicated_lines_density",
    "reliability_rating",
    "security_rating",
    "sqale_rating",
    "ncloc",
)
TASK_DONE = ("SUCCESS", "FAILED", "CANCELED")
_KEY = re.compile(r"[^A-Za-z0-9_.:-]")


def project_key(project: str, pipeline: str) -> str:
    """One SonarQube project per pipeline."""
    return _KEY.sub("_", f"cyclone:{project}:{pipeline}")


def scanner_args(key: str, name: str, config: SonarConfig) -> list[str]:
    """sonar-scanner's -D properties for the stage's config (sourcePath, encodingStyle,
    language); host and token go as SONAR_HOST_URL / SONAR_TOKEN in the environment."""
    source = str(config.get("sourcePath") or "").strip() or "."
    if source.startswith("/") or ".." in source.split("/"):
        raise ValueError(f"codeScan sourcePath must stay inside the code: {source}")
    args = [
        f"-Dsonar.projectKey={key}",
        f"-Dsonar.projectName={name}",
        f"-Dsonar.sources={source}",
        f"-Dsonar.sourceEncoding={str(config.get('encodingStyle') or '').strip() or 'UTF-8'}",
    ]
    language = str(config.get("language") or "").strip()
    if language:
        args.append(f"-Dsonar.language={language.lower()}")
    return args


def parse_report(text: str) -> dict[str, str]:
    """report-task.txt: `key=value` lines (ceTaskId, ceTaskUrl, dashboardUrl, ...)."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            found[key.strip()] = value.strip()
    if not found.get("ceTaskId"):
        raise ValueError("the scanner's report names no ceTaskId")
    return found


# SonarQube's web API answers are its JSON, read field by field: anything else is absent.
Answer = Mapping[str, object]


def _object(value: object) -> Answer:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def task_state(answer: Answer) -> tuple[str, str]:
    """(status, analysisId) of GET /api/ce/task."""
    task = _object(answer.get("task"))
    return str(task.get("status") or ""), str(task.get("analysisId") or "")


def gate_status(answer: Answer) -> str:
    """OK, WARN, ERROR or NONE from GET /api/qualitygates/project_status."""
    return str(_object(answer.get("projectStatus")).get("status") or "NONE")


def failed_conditions(answer: Answer) -> list[str]:
    conditions = _list(_object(answer.get("projectStatus")).get("conditions"))
    return [
        f"{c.get('metricKey')} {c.get('actualValue')} (threshold {c.get('errorThreshold')})"
        for c in map(_object, conditions)
        if c.get("status") == "ERROR"
    ]


def measures(answer: Answer) -> list[Measure]:
    """[{metric, value}] from GET /api/measures/component, in METRICS order."""
    got = {
        str(m.get("metric")): str(m.get("value"))
        for m in map(_object, _list(_object(answer.get("component")).get("measures")))
        if "value" in m
    }
    return [Measure(metric=name, value=got[name]) for name in METRICS if name in got]


def overview_link(address: str, key: str) -> str:
    return f"{address.rstrip('/')}/component_measures?id={key}"
