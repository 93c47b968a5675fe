import copy

import pytest

from services.api.domain import validation
from services.api.domain.errors import ValidationFailed
from tests.api import bodies


def test_project_normalises_type_server_and_quota():
    doc = validation.project_spec(
        {
            "name": "p",
            "id": "ignored",
            "creationTime": "x",
            "scm": {"type": "svn", "server": "svn://h/repo/", "username": "u", "password": "p"},
            "worker": {"quota": {"limitsMemory": "2Gi", "requests.cpu": "500m"}},
        }
    )
    assert doc["scm"]["type"] == "SVN" and doc["scm"]["server"] == "svn://h/repo"
    assert doc["worker"]["quota"] == {"limits.memory": "2Gi", "requests.cpu": "500m"}
    assert "id" not in doc and "creationTime" not in doc


def test_every_problem_is_reported_with_its_path():
    with pytest.raises(ValidationFailed) as err:
        validation.project_spec({"name": "Bad!", "scm": {"type": "Nope"}, "x": 1})
    fields = {d["field"] for d in err.value.details}
    assert fields == {"body", "scm", "scm.type", "name"}
    assert "(and 3 more)" in err.value.message


def test_pipeline_code_sources_become_main_repo_and_dep_repos():
    body = bodies.pipeline("p")
    sources = body["build"]["stages"]["codeCheckout"]["codeSources"]
    sources.insert(0, {"type": "other", "otherCodeSource": {"url": "file:///x"}, "folder": "x"})
    doc = validation.pipeline_spec(body)
    checkout = doc["build"]["stages"]["codeCheckout"]
    assert checkout["mainRepo"]["type"] == "Github" and "github" in checkout["mainRepo"]
    assert checkout["depRepos"] == [
        {"type": "other", "otherCodeSource": {"url": "file:///x"}, "folder": "x"}
    ]


def test_pipeline_rejects_both_shapes_at_once():
    body = bodies.pipeline("p")
    checkout = body["build"]["stages"]["codeCheckout"]
    checkout["mainRepo"] = copy.deepcopy(checkout["codeSources"][0])
    with pytest.raises(ValidationFailed) as err:
        validation.pipeline_spec(body)
    assert any("not both" in d["error"] for d in err.value.details)


@pytest.mark.parametrize("expr", ["* * * * *", "0 2 * * 1-5", "*/15 0 1,15 * *", "@daily"])
def test_cron_expressions(expr):
    body = bodies.pipeline("p")
    body["autoTrigger"]["cronTrigger"]["crons"][0]["expression"] = expr
    if expr.startswith("@"):
        with pytest.raises(ValidationFailed, match="5-field"):
            validation.pipeline_spec(body)
    else:
        validation.pipeline_spec(body)


def test_pipeline_read_only_fields_are_ignored():
    body = bodies.pipeline("p")
    body.update(id="1", projectID="2", recentRecords=[], lastUpdateTime="t")
    doc = validation.pipeline_spec(body)
    assert not {"id", "projectID", "recentRecords", "lastUpdateTime"} & set(doc)


def test_integration_type_case_insensitive():
    doc = validation.integration_spec(bodies.integration("s", type="sonarqube"))
    assert doc["type"] == "SonarQube"


def test_bodies_must_be_objects():
    for spec in (validation.project_spec, validation.pipeline_spec, validation.integration_spec):
        with pytest.raises(ValidationFailed, match="JSON object"):
            spec([])
