from services.api import openapi
from services.api.domain.merge import merge_patch


def test_merge_patch_rfc7396():
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    patch = {"a": None, "b": {"c": 9, "x": None}, "e": [2], "f": {"g": 1}}
    assert merge_patch(target, patch) == {"b": {"c": 9, "d": 3}, "e": [2], "f": {"g": 1}}
    assert target["a"] == 1  # the input is not modified
    assert merge_patch(target, [1]) == [1]


def test_openapi_document_is_consistent():
    doc = openapi.document()
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc["paths"])
    assert refs <= set(doc["components"]["schemas"])
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    # Calls that reach the SCM say so: a denied permission, an SCM that does not answer.
    for path, method in (
        ("/api/v1/projects", "post"),
        ("/api/v1/projects/{project}/repos", "get"),
        ("/api/v1/projects/{project}/pipelines", "post"),
    ):
        assert {"403", "502"} <= set(doc["paths"][path][method]["responses"]), path
    assert "502" not in doc["paths"]["/api/v1/projects"]["get"]["responses"]


# --- the document states the validators' rules (no stack: tests/api/test_fuzz.py has one) ----

import random  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402
import schemathesis  # noqa: E402
from croniter import croniter  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from services.api.domain import names, schemas, secrets, validation  # noqa: E402


def test_validator_regexes_are_the_documented_patterns():
    assert validation.EMAIL_RE.pattern == schemas.fullmatch_regex(schemas.EMAIL_PATTERN).pattern
    assert (
        validation.HTTP_URL_RE.pattern == schemas.fullmatch_regex(schemas.HTTP_URL_PATTERN).pattern
    )
    assert names.NAME_RE.pattern == schemas.fullmatch_regex(names.NAME_PATTERN).pattern


def test_name_pattern_is_the_name_rule():
    rng = random.Random(7)
    documented = re.compile(names.NAME_PATTERN.replace("$", r"\Z"))
    samples = ["a", "a-b", "a--b", "-a", "a.", "A", "a_b.c-d", "a\n", ""]
    samples += ["".join(rng.choices("ab0._-A ", k=rng.randint(1, 12))) for _ in range(2000)]
    for text in samples:
        assert bool(documented.match(text)) == bool(names.NAME_RE.fullmatch(text)), text


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(schemas.CRON_PATTERN.replace("$", r"\Z"), fullmatch=True))
def test_documented_crons_are_accepted(expression):
    assert len(expression.split()) == 5 and croniter.is_valid(expression), expression


def _seal(doc, paths):
    return secrets.seal(doc, None, paths, lambda value: "sealed:" + value)


def _project(body):
    doc = validation.project_spec(body)
    validation.project_credentials(_seal(doc, secrets.project_paths), None)


def _integration(body):
    doc = validation.integration_spec(body)
    validation.integration_token(_seal(doc, secrets.integration_paths), None)


def _cloud(body):
    doc = validation.cloud_spec(body)
    validation.cloud_credentials(_seal(doc, secrets.cloud_paths), None)


def _pipeline(body):
    _seal(validation.pipeline_spec(body), secrets.pipeline_paths)


CREATES = [
    ("/api/v1/projects", "POST", _project),
    ("/api/v1/projects/{project}/pipelines", "POST", _pipeline),
    ("/api/v1/integrations", "POST", _integration),
    ("/api/v1/clouds", "POST", _cloud),
    ("/api/v1/projects/{project}/pipelines/{pipeline}/records", "POST", validation.record_spec),
    (
        "/api/v1/projects/{project}/pipelines/{pipeline}/records/{recordid}/status",
        "PATCH",
        validation.status_spec,
    ),
]


@pytest.mark.parametrize(("path", "method", "accept"), CREATES, ids=lambda v: str(v))
def test_bodies_the_document_calls_valid_are_accepted(path, method, accept):
    """Bodies generated from the document's request schema pass the validator, the sealing of
    secrets and the create-time checks: every rule checked in code is stated there."""
    operation = schemathesis.openapi.from_dict(openapi.document())[path][method]

    @settings(
        max_examples=60, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    def check(case):
        accept(case.body)

    check()
