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
