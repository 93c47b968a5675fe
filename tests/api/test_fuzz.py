"""Fuzzing the API: schemathesis over the OpenAPI document, against a real stack of its own.

Every operation of /api/v1/openapi.json gets generated requests (its examples, schemathesis'
coverage cases: boundaries and each rule broken on purpose, then random ones), derandomized,
with a fixed seed and a bounded number per operation, and every check schemathesis has: no
5xx, the status codes, media types, headers and bodies the document declares (so every error
is `{message, reason}`), a request the document calls valid is accepted
(positive_data_acceptance: 2xx/3xx, or 401/403/404/409 for a resource that is not there or
taken), one it calls invalid is refused (negative_data_rejection), auth is not ignored, an
undocumented method is 405 with Allow.

Two passes. `test_fuzz` draws every path parameter: on made-up names almost every operation
answers 404 after checking its query and body, and the creates make resources that later
operations find. `test_fuzz_on_resources` pins the path parameters of the operations that
act on a project, a pipeline and a record to ones that exist (`resources`), so lists,
records, logs, stats, aborts, reruns and deletes reach their real work; a delete is undone
before the next case.

The stack is this module's own (`fuzz_stack`): the fuzzer creates and deletes whatever it
likes, and its Local builds run `true` instead of a worker, so no generated command is ever
executed. No SCM is reachable from it (CYCLONE_SCM_VERIFY is off, and no public URL is set,
so no webhook is registered).

What the document cannot say is relaxed per operation below, each with its reason; nothing
is excluded. Run alone: `.venv/bin/python -m pytest tests/api/test_fuzz.py -p no:randomly`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis.core.parameters import ParameterLocation

from services.api import openapi
from services.api.domain import queries
from tests.api import bodies
from tests.support import StackProcess

SEED = 20260516
# Random cases per operation, after its examples and coverage cases: about 90 s in all.
MAX_EXAMPLES = 10
MAX_EXAMPLES_ON_RESOURCES = 3
DOCUMENT = openapi.document()

P = "/api/v1/projects/{project}"
PL = P + "/pipelines/{pipeline}"
R = PL + "/records/{recordid}"


def _also(check: str, statuses: list[str], *labels: str) -> list[dict[str, Any]]:
    """Per-operation check settings: `statuses` count as expected too for `labels`."""
    defaults = {
        "positive_data_acceptance": ["2xx", "3xx", "401", "403", "404", "409", "429"],
        "not_a_server_error": ["2xx", "3xx", "4xx"],
    }
    return [
        {
            "include-name": label,
            "checks": {check: {"expected-statuses": defaults[check] + statuses}},
        }
        for label in labels
    ]


# Answers the document cannot make a client expect, by operation.
RELAXED: list[dict[str, Any]] = [
    # The log stream is a WebSocket: over plain HTTP a request the document calls valid is
    # answered 426 Upgrade Required (declared); schemathesis' HTTP client cannot upgrade.
    # (Its query is checked first: a bad one is 400.) tests/e2e/test_logstream.py streams.
    *_also("positive_data_acceptance", ["426"], f"GET {R}/logstream"),
    # A PUT (and a PATCH, a merge into the stored project) is checked against the stored
    # resource too: the body's name must be the path's, a cloud's or integration's type
    # cannot change, and a masked secret is not kept when its address changes (400
    # SecretRequired). OpenAPI cannot tie a body to a path parameter or to stored state; the
    # same bodies are checked strictly on the creates.
    *_also(
        "positive_data_acceptance",
        ["400"],
        f"PUT {P}",
        f"PATCH {P}",
        f"PUT {PL}",
        "PUT /api/v1/clouds/{cloud}",
        "PUT /api/v1/integrations/{integration}",
    ),
    # The SCM listings ask the project's SCM, which the fuzzer's projects name at random and
    # none of which exists here: svn refuses the URL (400) or the server does not answer (502
    # BadGateway, declared). That is the SCM's answer, not a judgement of the request.
    *(
        rule
        for check, statuses in (
            ("positive_data_acceptance", ["400", "502"]),
            ("not_a_server_error", ["502"]),
        )
        for rule in _also(
            check,
            statuses,
            f"GET {P}/repos",
            f"GET {P}/branches",
            f"GET {P}/tags",
            f"GET {P}/templatetype",
            f"GET {P}/dockerfiles",
        )
    ),
]


def _config(**more: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES},
            "operations": RELAXED,
            **more,
        }
    )


schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config())

# The second pass: the operations on one project, pipeline and record that exist.
PROJECT, PIPELINE = "fuzz-project", "fuzz-pipeline"
on_resources = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=_config(
        parameters={"path.project": PROJECT, "path.pipeline": PIPELINE},
        generation={"deterministic": True, "max-examples": MAX_EXAMPLES_ON_RESOURCES},
    ),
).include(path_regex="^/api/v1/projects/\\{project\\}")


def _stats_in_range(case: schemathesis.Case) -> bool:
    """endTime >= startTime, at most 366 days apart: a rule between two parameters."""
    query = case.query or {}
    try:
        start, end = int(query["startTime"]), int(query["endTime"])
    except (KeyError, TypeError, ValueError):
        return True  # not two integers: the document's own rules apply
    return start <= end <= start + queries.MAX_STATS_DAYS * 86400


def _post_commit(body: Any) -> bool:
    trigger = ((body or {}).get("autoTrigger") or {}) if isinstance(body, dict) else {}
    return isinstance(trigger, dict) and "postCommit" in (trigger.get("scmTrigger") or {})


def expected_refusal(case: schemathesis.Case) -> bool:
    """A case the document calls valid that a rule the document cannot state refuses, so a
    400 for it says nothing about the document (positive cases only):

    - stats: the range rule ties two parameters;
    - a pipeline with a postCommit trigger: the scm service reads the SVN repository's UUID
      at the save, and the fuzzer's repositories do not exist (400 "cannot read svn
      repository");
    - a run naming stages: they must be stages the pipeline defines.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return False
    path = case.operation.path
    if path.endswith("/stats"):
        return not _stats_in_range(case)
    if case.method == "POST" and path == P + "/pipelines":
        return _post_commit(case.body)
    if case.method == "POST" and path == PL + "/records":
        return isinstance(case.body, dict) and bool(case.body.get("stages"))
    return False


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """This module's own stack: what the fuzzer creates and deletes touches no other test.
    Local builds run `true` instead of a worker: no generated command ever runs."""
    proc = StackProcess(
        tmp_path_factory.mktemp("fuzz") / "data",
        CYCLONE_LOCAL_WORKER_CMD=json.dumps(["true"]),
    ).start()
    yield proc
    proc.retire()


@pytest.fixture(scope="module")
def auth(fuzz_stack: StackProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzz_stack.token}"}


class Resources:
    """The project, pipeline and record the second pass acts on, made again when a case
    deleted them. The project's SCM is a closed local port: nothing leaves the machine."""

    def __init__(self, stack: StackProcess) -> None:
        self._client = stack.client()
        self.record_id = ""
        self.dirty = True  # something may be gone: look before the next case

    def ensure(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        api = self._client
        scm = {"type": "Github", "server": "http://127.0.0.1:9", "token": "fuzz-token"}
        if api.get(f"/api/v1/projects/{PROJECT}").status_code == 404:
            made = api.post("/api/v1/projects", json=bodies.project(PROJECT, scm=scm))
            assert made.status_code == 201, made.text
        pipelines = f"/api/v1/projects/{PROJECT}/pipelines"
        if api.get(f"{pipelines}/{PIPELINE}").status_code == 404:
            body = bodies.pipeline(PIPELINE, autoTrigger={}, notification={})
            made = api.post(pipelines, json=body)
            assert made.status_code == 201, made.text
        records = f"{pipelines}/{PIPELINE}/records"
        if not self.record_id or api.get(f"{records}/{self.record_id}").status_code == 404:
            made = api.post(records, json={"ref": "master"})
            assert made.status_code == 201, made.text
            self.record_id = made.json()["id"]

    def close(self) -> None:
        self._client.close()


@pytest.fixture(scope="module")
def resources(fuzz_stack: StackProcess) -> Iterator[Resources]:
    made = Resources(fuzz_stack)
    yield made
    made.close()


def test_the_stack_serves_this_document(fuzz_stack: StackProcess, auth: dict[str, str]):
    """The fuzzed document is the one the gateway serves at /api/v1/openapi.json."""
    served = httpx.get(fuzz_stack.url + "/api/v1/openapi.json", headers=auth, timeout=10)
    assert served.json() == json.loads(json.dumps(DOCUMENT))


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None, database=None)
def test_fuzz(case: schemathesis.Case, fuzz_stack: StackProcess, auth: dict[str, str]):
    assume(not expected_refusal(case))
    case.call_and_validate(base_url=fuzz_stack.url, headers=auth, timeout=30)


@on_resources.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None, database=None)
def test_fuzz_on_resources(
    case: schemathesis.Case, fuzz_stack: StackProcess, auth: dict[str, str], resources: Resources
):
    assume(not expected_refusal(case))
    resources.ensure()
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if "recordid" in case.path_parameters and not (path and path.mode.is_negative):
        case.path_parameters["recordid"] = resources.record_id
    response = case.call_and_validate(base_url=fuzz_stack.url, headers=auth, timeout=30)
    resources.dirty = case.method == "DELETE" and response.status_code == 204
