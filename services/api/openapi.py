"""The OpenAPI 3 document of the whole API, built from one endpoint table.

Every path of the spec (shared/spec/cyclone-api-v1.md) is listed. Endpoints whose capability
has not landed yet carry `x-cyclone-status: planned` and are not routed, so the document
says honestly what answers today; tests/api/test_gateway.py checks both directions.

The document is exact: request bodies are the validators' own JSON Schemas, with the rules
validation.py checks in code stated as JSON Schema too (services/api/domain/schemas.py), and
query parameters are the bounds and choices the resources read (services/api/domain/
queries.py). Nothing here repeats a rule as a literal, so the document and the server cannot
drift; tests/api/test_fuzz.py runs schemathesis against a real stack to prove it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api.domain import artifacts, names, queries, schemas
from services.api.domain.queries import QueryParam
from services.api.resources.templates import FIELDS as TEMPLATE_FIELDS

JsonSchema = schemas.JsonSchema
Schema = schemas.Schema
# An OpenAPI object other than a schema (an operation, its responses): JSON as well.
OpenApiObject = dict[str, object]

P = "/api/v1/projects/{project}"
PL = P + "/pipelines/{pipeline}"
R = PL + "/records/{recordid}"

OBJECT_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}
# Path parameters: names follow the name rules (others are 404: no such resource).
PATH_PARAMS: dict[str, Schema] = {
    "project": schemas.REQUIRED_NAME,
    "pipeline": schemas.REQUIRED_NAME,
    "integration": schemas.REQUIRED_NAME,
    "cloud": schemas.REQUIRED_NAME,
    "recordid": OBJECT_ID,
    "pipelineid": OBJECT_ID,
    "svnrepoid": {"type": "string", "minLength": 1},
    "path": {"type": "string", "minLength": 1},
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    tag: str
    request: str | None = None
    response: str | None = None
    status: int = 200
    planned: bool = False
    query: tuple[QueryParam, ...] = ()
    description: str = ""
    body_required: bool = True
    # The success answer's media type when it is not JSON (logs, files, metrics).
    media: str | None = None
    # More answers than the usual errors: (status, description), with the error body.
    more: tuple[tuple[int, str], ...] = ()
    headers: tuple[QueryParam, ...] = ()
    # A request body that is not a JSON document of a schema here: (media type, schema).
    raw_body: tuple[str, Schema] | None = None


WEBHOOK = (
    "Open without the API token; the delivery's signature is checked against the pipeline's "
    "autoTrigger.scmTrigger.webhookSecret. Answers 200 {status, reason, record?}: status "
    "started, ignored (no trigger matched), duplicate (delivery id seen), or refused (a "
    "pullRequestComment whose author may not write to the repository: GitHub "
    "author_association other than OWNER, MEMBER, COLLABORATOR; GitLab access below "
    "Developer). A run of a pull/merge request from a fork (or of a comment on one) is "
    "untrusted: the answer and the record carry the reason (untrusted; record trusted: "
    "false, untrustedReason), the run gets no secret, and imageRelease and a codeScan with "
    "a token are Skipped with a skipReason; autoTrigger.scmTrigger.forkSecrets: true opts out."
)

SVN_HOOK = (
    "Open without the API token. The header X-Cyclone-Secret must equal the webhookSecret of a "
    "pipeline with a postCommit trigger on this repository (svnrepoid = `svnlook uuid`), else "
    "401 and nothing starts. Body: `svnlook changed` output (at most 5 MiB). Answers 200 "
    "{revision, started: [{pipeline, project, record}], skipped: [{pipeline, reason}], "
    "message?}; a revision starts a pipeline at most once (a repeat is skipped)."
)


RERUN = (
    'Body {"from": "start" (default; an empty body too) | "failed"}. Only finished '
    "records (409 while Pending or Running; 409 for from=failed when no stage failed). "
    "Answers 201 with the new record: rerunOf = this record, the same performParams and "
    "stages, the pipeline as the original ran it, the project as it is now, and the commits "
    "the original checked out (git sha, svn revision) whatever the ref points to now. An "
    "untrusted record's rerun is untrusted too. From failed: the stages before the first one "
    "that did not succeed are not run; they show the original's stage status (times, "
    "outputs, artifacts) with reusedFrom = the record that ran them, and their artifacts are "
    "restored into the workspace after the checkout (which always runs). imageBuild always "
    "runs again (images are not kept between records). A reused stage's artifact that no "
    "longer exists fails the rerun at its checkout, naming it."
)
ARTIFACTS = (
    "Files named by a stage's `outputs` (folders as trees; symbolic links are left out), "
    "kept when the stage succeeded, newest per path; a record keeps at most "
    "CYCLONE_ARTIFACTS_MAX_BYTES (default 1 GiB) in all: past it the stage fails and keeps "
    "nothing. They are deleted with their record (delete, pipeline or project delete, "
    "retention)."
)


def _header(name: str, description: str, required: bool = False) -> QueryParam:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


SVN_HOOK_HEADERS = (
    _header("X-Cyclone-Secret", "the pipeline's autoTrigger.scmTrigger.webhookSecret", True),
)
GITHUB_HEADERS = (
    _header("X-GitHub-Event", "the event (push, create, pull_request, ...)"),
    _header("X-GitHub-Delivery", "the delivery id (duplicates start nothing)"),
    _header("X-Hub-Signature-256", "sha256=HMAC-SHA256 of the body with the secret"),
)
GITLAB_HEADERS = (
    _header("X-Gitlab-Event", "the event (Push Hook, Tag Push Hook, ...)"),
    _header("X-Gitlab-Event-UUID", "the delivery id (duplicates start nothing)"),
    _header("X-Gitlab-Token", "the pipeline's webhook secret"),
)
ANY_JSON: tuple[str, Schema] = ("application/json", {})
SVN_CHANGED: tuple[str, Schema] = ("text/plain", {"type": "string"})
ABORT = ((409, "the record is finished: nothing to abort"),)
RERUN_CONFLICT = ((409, "the record is not finished, or from=failed and no stage failed"),)
LOGSTREAM_ANSWERS = (
    (101, "switching to the WebSocket: one text frame per log line"),
    (426, "a request without `Upgrade: websocket`"),
)
ARTIFACT_ANSWERS = (
    (206, "the requested byte range"),
    (304, "If-None-Match names the file's ETag"),
    (416, "a range past the end of the file"),
)

KEPT_SECRETS = (
    "A secret left out or sent as ****** keeps its stored value (so credentials are not "
    "required here as on a create), unless the address it is sent to changes (400 "
    "SecretRequired); an empty string clears it. A name in the body must be the path's (400)."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "get",
        "/api/v1/projects",
        "List projects",
        "projects",
        None,
        "ProjectList",
        query=queries.PAGING,
    ),
    Endpoint(
        "post", "/api/v1/projects", "Create a project", "projects", "ProjectInput", "Project", 201
    ),
    Endpoint("get", P, "Get a project", "projects", None, "Project"),
    Endpoint(
        "put",
        P,
        "Replace a project",
        "projects",
        "ProjectReplace",
        "Project",
        description=KEPT_SECRETS,
    ),
    Endpoint(
        "patch",
        P,
        "Update part of a project (JSON merge patch)",
        "projects",
        "ProjectPatch",
        "Project",
    ),
    Endpoint("delete", P, "Delete a project and its pipelines", "projects", status=204),
    Endpoint(
        "get",
        P + "/pipelines",
        "List pipelines",
        "pipelines",
        None,
        "PipelineList",
        query=(*queries.PAGING, *queries.RECENT),
    ),
    Endpoint(
        "post", P + "/pipelines", "Create a pipeline", "pipelines", "PipelineInput", "Pipeline", 201
    ),
    Endpoint(
        "get",
        PL,
        "Get a pipeline",
        "pipelines",
        None,
        "Pipeline",
        query=queries.RECENT,
    ),
    Endpoint("put", PL, "Replace a pipeline", "pipelines", "PipelineInput", "Pipeline"),
    Endpoint("delete", PL, "Delete a pipeline", "pipelines", status=204),
    Endpoint(
        "get", PL + "/records", "List records", "records", None, "RecordList", query=queries.PAGING
    ),
    Endpoint(
        "post",
        PL + "/records",
        "Run a pipeline",
        "records",
        "RecordInput",
        "Record",
        201,
        description="`stages` must be stages the pipeline defines (400 otherwise).",
        headers=(queries.IDEMPOTENCY_KEY,),
    ),
    Endpoint("get", R, "Get a record", "records", None, "Record"),
    Endpoint("delete", R, "Delete a record", "records", status=204),
    Endpoint(
        "patch", R + "/status", "Abort a record", "records", "RecordStatus", "Record", more=ABORT
    ),
    Endpoint(
        "post",
        R + "/rerun",
        "Run a finished record again",
        "records",
        "RerunInput",
        "Record",
        201,
        description=RERUN,
        body_required=False,
        more=RERUN_CONFLICT,
    ),
    Endpoint(
        "get",
        R + "/artifacts",
        "List a record's artifacts",
        "artifacts",
        None,
        "ArtifactList",
        description=ARTIFACTS,
    ),
    Endpoint(
        "get",
        R + "/artifacts/{path}",
        "Download one artifact",
        "artifacts",
        media="application/octet-stream",
        more=ARTIFACT_ANSWERS,
        description=(
            "`path` is the artifact's path (it may hold `/`). The file, streamed, as "
            "application/octet-stream with Content-Disposition: attachment, ETag = its sha256 "
            "(If-None-Match answers 304), Accept-Ranges: bytes; a single `Range: bytes=` "
            "range (If-Range honoured) answers 206 with Content-Range, an unsatisfiable one "
            "416 with `Content-Range: bytes */size`; several ranges get the whole file."
        ),
    ),
    Endpoint(
        "get",
        R + "/artifacts.tar.gz",
        "Download all of a record's artifacts as one tar.gz",
        "artifacts",
        media="application/gzip",
        description=(
            "Streamed as it is made (application/gzip, Content-Disposition: attachment; "
            "filename={project}-{pipeline}-{recordid}-artifacts.tar.gz); members are named "
            "by artifact path, with their permission bits and creation time."
        ),
    ),
    Endpoint(
        "get",
        R + "/logs",
        "Get a record's log",
        "logs",
        query=queries.LOG,
        media="text/plain",
    ),
    Endpoint(
        "get",
        R + "/logstream",
        "Follow a record's log (WebSocket)",
        "logs",
        query=queries.LOGSTREAM,
        more=LOGSTREAM_ANSWERS,
        description=(
            "Authenticated by the Authorization header, or (browsers cannot set headers on a "
            "WebSocket) by ?ticket= from POST /api/v1/tickets (single use, 60 s), or ?token= "
            "(the API token; kept for scripts, never written to a log)."
        ),
    ),
    Endpoint(
        "post",
        "/api/v1/tickets",
        "Get a single-use ticket for the log WebSocket",
        "logs",
        response="Ticket",
        status=201,
        description="Answers {ticket, expiresAt, expiresIn}: good for one ?ticket= within 60 s.",
    ),
    Endpoint("get", P + "/repos", "List SCM repositories", "scm", None, "RepoList"),
    Endpoint("get", P + "/branches", "List branches", "scm", None, "NameList", query=queries.REPO),
    Endpoint("get", P + "/tags", "List tags", "scm", None, "NameList", query=queries.REPO),
    Endpoint(
        "get",
        P + "/templatetype",
        "Detect a repository's template type",
        "scm",
        None,
        "TemplateType",
        query=queries.REPO,
    ),
    Endpoint(
        "get",
        P + "/dockerfiles",
        "List Dockerfiles in a repository",
        "scm",
        None,
        "NameList",
        query=queries.REPO,
    ),
    Endpoint(
        "post",
        "/api/v1/pipelines/{pipelineid}/githubwebhook",
        "GitHub webhook",
        "webhooks",
        response="WebhookAnswer",
        headers=GITHUB_HEADERS,
        raw_body=ANY_JSON,
        description=WEBHOOK,
    ),
    Endpoint(
        "post",
        "/api/v1/pipelines/{pipelineid}/gitlabwebhook",
        "GitLab webhook",
        "webhooks",
        response="WebhookAnswer",
        headers=GITLAB_HEADERS,
        raw_body=ANY_JSON,
        description=WEBHOOK,
    ),
    Endpoint(
        "post",
        "/api/v1/subversion/{svnrepoid}/postcommithook",
        "SVN post-commit hook",
        "webhooks",
        query=queries.REVISION,
        headers=SVN_HOOK_HEADERS,
        raw_body=SVN_CHANGED,
        response="SvnHookAnswer",
        description=SVN_HOOK,
    ),
    Endpoint("get", P + "/stats", "Project stats", "stats", None, "Stats", query=queries.STATS),
    Endpoint(
        "get",
        PL + "/stats",
        "Pipeline stats",
        "stats",
        None,
        "Stats",
        query=queries.STATS,
    ),
    Endpoint("post", "/api/v1/clouds", "Create a cloud", "clouds", "CloudInput", "Cloud", 201),
    Endpoint("get", "/api/v1/clouds", "List clouds", "clouds", None, "CloudList"),
    Endpoint("get", "/api/v1/clouds/{cloud}", "Get a cloud", "clouds", None, "Cloud"),
    Endpoint(
        "put",
        "/api/v1/clouds/{cloud}",
        "Replace a cloud",
        "clouds",
        "CloudReplace",
        "Cloud",
        description=KEPT_SECRETS + " The type cannot be changed (400).",
    ),
    Endpoint("delete", "/api/v1/clouds/{cloud}", "Delete a cloud", "clouds", status=204),
    Endpoint("get", "/api/v1/clouds/{cloud}/ping", "Check a cloud", "clouds", None, "Ping"),
    Endpoint(
        "get",
        "/api/v1/clouds/{cloud}/workers",
        "List a cloud's workers",
        "clouds",
        None,
        "WorkerList",
        query=queries.NAMESPACE,
    ),
    Endpoint(
        "get",
        "/api/v1/configtemplates",
        "List config templates",
        "templates",
        None,
        "ConfigTemplateList",
    ),
    Endpoint(
        "get",
        "/api/v1/integrations",
        "List integrations",
        "integrations",
        None,
        "IntegrationList",
        query=queries.PAGING,
    ),
    Endpoint(
        "post",
        "/api/v1/integrations",
        "Create an integration",
        "integrations",
        "IntegrationInput",
        "Integration",
        201,
    ),
    Endpoint(
        "get",
        "/api/v1/integrations/{integration}",
        "Get an integration",
        "integrations",
        None,
        "Integration",
    ),
    Endpoint(
        "put",
        "/api/v1/integrations/{integration}",
        "Replace an integration",
        "integrations",
        "IntegrationReplace",
        "Integration",
        description=KEPT_SECRETS + " The type cannot be changed (400).",
    ),
    Endpoint(
        "delete",
        "/api/v1/integrations/{integration}",
        "Delete an integration",
        "integrations",
        status=204,
    ),
    Endpoint(
        "get",
        "/healthz",
        "Health of MongoDB and every service",
        "meta",
        None,
        "Health",
        description=(
            "200 when MongoDB and every resident service answered within 2 s, else 503 with "
            "`failing`. The verdict is at most 1 s old however often it is asked: each gateway "
            "process serves its last one again for 1 s, and requests during a check share it."
        ),
    ),
    Endpoint("get", "/metrics", "Prometheus metrics", "meta", media="text/plain"),
    Endpoint("get", "/api/v1/openapi.json", "This document", "meta", None, "Document"),
)

OPEN = ("/healthz", "/metrics")

_ERROR = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "reason": {"type": "string"},
        "details": {},
    },
    "required": ["message", "reason"],
}
_STORED = {
    "id": OBJECT_ID,
    "creationTime": {"type": "string", "format": "date-time"},
    "lastUpdateTime": {"type": "string", "format": "date-time"},
}
_READ_ONLY_NOTE = "set by the server: ignored when sent back (GET then PUT)"


def _loose(schema: Any) -> Any:
    """An input schema as answers follow it: the server adds fields of its own (a registered
    webhook, a postCommit trigger's repoInfo), so unknown fields are not refused there."""
    if isinstance(schema, dict):
        return {k: _loose(v) for k, v in schema.items() if k != "additionalProperties"} | (
            {"additionalProperties": _loose(schema["additionalProperties"])}
            if isinstance(schema.get("additionalProperties"), dict)
            else {}
        )
    if isinstance(schema, list):
        return [_loose(v) for v in schema]
    return schema


def _answer(input_schema: Schema, **more: Schema) -> JsonSchema:
    props = {**_loose(input_schema["properties"]), **_STORED, **more}
    return {"type": "object", "properties": props, "required": ["id", "name"]}


def _input(schema: Schema, read_only: tuple[str, ...] = schemas.READ_ONLY) -> JsonSchema:
    """A request body: the validator's schema and rules, plus the fields the server sets,
    which may be sent back and are ignored."""
    ignored = {key: {"readOnly": True, "description": _READ_ONLY_NOTE} for key in read_only}
    return {**schema, "properties": {**schemas.sub(schema, "properties"), **ignored}}


def _patch(schema: Schema) -> JsonSchema:
    """A JSON merge patch (RFC 7396) of an object of `schema`: every field optional, null
    removes it, objects are patched field by field, anything else replaced whole."""
    if schema.get("type") != "object" or "properties" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    given = schemas.sub(schema, "properties")
    props = {key: _patch(schemas.sub(given, key)) for key in given}
    out: JsonSchema = {"type": "object", "properties": props}
    if "additionalProperties" in schema:
        out["additionalProperties"] = schema["additionalProperties"]
    return out


def _list(item: str) -> JsonSchema:
    return {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"total": {"type": "integer", "minimum": 0}},
                "required": ["total"],
            },
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        },
        "required": ["metadata", "items"],
    }


def _record() -> JsonSchema:
    return {
        "type": "object",
        "description": "A PipelineRecordObject (the spec's Records section); fields below "
        "are those reruns and artifacts add.",
        "properties": {
            "id": OBJECT_ID,
            "name": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["Pending", "Running", "Success", "Failed", "Aborted"],
            },
            "rerunOf": {"type": "string", "description": "the record this one reruns"},
            "stageStatus": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string"},
                        "outputs": {"type": "array", "items": {"type": "string"}},
                        "artifacts": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "paths of the artifacts the stage kept",
                        },
                        "reusedFrom": {
                            "type": "string",
                            "description": "a rerun's stage not run again: the record that ran it",
                        },
                    },
                },
            },
        },
        "required": ["id", "status"],
    }


def _stats() -> JsonSchema:
    counts = {k: {"type": "integer", "minimum": 0} for k in ("success", "failed", "aborted")}
    return {
        "type": "object",
        "properties": {
            "overview": {
                "type": "object",
                "properties": {
                    "total": {"type": "integer", "minimum": 0},
                    **counts,
                    "successRatio": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}%$"},
                },
            },
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"timestamp": {"type": "integer"}, **counts},
                },
            },
        },
        "required": ["overview", "details"],
    }


def components() -> dict[str, Schema]:
    record_list = {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}
    pipeline_read_only = (*schemas.READ_ONLY, "projectID", *RECENT_FIELDS)
    return {
        "Error": _ERROR,
        "ProjectInput": _input(schemas.PROJECT_CREATE_INPUT),
        "ProjectReplace": _input(schemas.PROJECT_REPLACE_INPUT),
        "ProjectPatch": {
            **_patch(schemas.PROJECT),
            "description": "JSON merge patch of a project (RFC 7396); the result must be a "
            "valid project",
        },
        "Project": _answer(schemas.PROJECT),
        "ProjectList": _list("Project"),
        "PipelineInput": _input(schemas.PIPELINE_INPUT, pipeline_read_only),
        "Pipeline": _answer(
            schemas.PIPELINE,
            projectID=OBJECT_ID,
            **dict.fromkeys(RECENT_FIELDS, record_list),
        ),
        "PipelineList": _list("Pipeline"),
        "IntegrationInput": _input(schemas.INTEGRATION_CREATE_INPUT),
        "IntegrationReplace": _input(schemas.INTEGRATION_REPLACE_INPUT),
        "Integration": _answer(schemas.INTEGRATION),
        "IntegrationList": _list("Integration"),
        "CloudInput": _input(schemas.CLOUD_CREATE_INPUT),
        "CloudReplace": _input(schemas.CLOUD_REPLACE_INPUT),
        "Cloud": _answer(schemas.CLOUD),
        "CloudList": _list("Cloud"),
        "Ping": {"type": "object"},
        "Worker": {"type": "object"},
        "WorkerList": _list("Worker"),
        "ConfigTemplate": {
            "type": "object",
            "properties": {k: {"type": "string"} for k in TEMPLATE_FIELDS},
        },
        "ConfigTemplateList": _list("ConfigTemplate"),
        "Repo": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
        },
        "RepoList": _list("Repo"),
        "Name": {"type": "string"},
        "NameList": _list("Name"),
        "TemplateType": {"type": "object", "properties": {"type": {"type": "string"}}},
        "Artifact": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "size": {"type": "integer"},
                "sha256": {"type": "string"},
                "stage": {"type": "string"},
                "creationTime": {"type": "string", "format": "date-time"},
            },
        },
        "ArtifactList": _list("Artifact"),
        "RecordInput": schemas.RECORD_REQUEST_INPUT,
        "RecordStatus": schemas.RECORD_STATUS,
        "RerunInput": {
            "type": ["object", "null"],
            "description": "null or no body: from the start",
            "properties": {"from": {"type": "string", "enum": list(artifacts.RERUN_FROM)}},
            "additionalProperties": False,
        },
        "Record": _record(),
        "RecordList": _list("Record"),
        "Stats": _stats(),
        "Ticket": {
            "type": "object",
            "properties": {
                "ticket": {"type": "string"},
                "expiresAt": {"type": "string", "format": "date-time"},
                "expiresIn": {"type": "integer"},
            },
            "required": ["ticket", "expiresAt", "expiresIn"],
        },
        "WebhookAnswer": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["started", "ignored", "duplicate", "refused"],
                },
                "reason": {"type": "string"},
                "record": {"type": "string"},
                "untrusted": {"type": "string"},
            },
            "required": ["status"],
        },
        "SvnHookAnswer": {
            "type": "object",
            "properties": {
                "revision": {"type": "integer"},
                "started": {"type": "array", "items": {"type": "object"}},
                "skipped": {"type": "array", "items": {"type": "object"}},
                "message": {"type": "string"},
            },
            "required": ["revision", "started", "skipped"],
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                "failing": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Document": {"type": "object", "required": ["openapi", "paths"]},
    }


RECENT_FIELDS = ("recentRecords", "recentSuccessRecords", "recentFailedRecords")


def _content(media: str, schema: Schema) -> OpenApiObject:
    return {"content": {media: {"schema": schema}}}


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(ep: Endpoint) -> OpenApiObject:
    error = _content("application/json", _ref("Error"))
    ok: OpenApiObject = {"description": "success"}
    if ep.response:
        ok.update(_content("application/json", _ref(ep.response)))
    elif ep.media:
        ok.update(_content(ep.media, {"type": "string"}))
    responses: OpenApiObject = {
        str(ep.status): ok,
        "400": {"description": "invalid input", **error},
        "401": {"description": "missing or invalid bearer token", **error},
        "404": {"description": "unknown resource", **error},
        "503": {"description": "a backing service is unavailable: retry later", **error},
    }
    if ep.request or ep.raw_body or ep.method in ("post", "put", "patch"):
        responses["413"] = {"description": "body larger than 1 MiB", **error}
    if ep.request:
        responses["409"] = {"description": "duplicate name", **error}
    if ep.tag == "scm" or (ep.tag in ("projects", "pipelines") and ep.method != "get"):
        # They ask the SCM (credentials, listings, webhooks on the repository).
        responses["403"] = {"description": "the SCM denied the permission", **error}
        responses["502"] = {"description": "the SCM did not answer well", **error}
    if ep.tag == "webhooks":
        responses["401"] = {"description": "missing or wrong secret or signature", **error}
        responses["413"] = {"description": "body larger than 5 MiB", **error}
    for status, description in ep.more:
        body = {} if status in (101, 304) or status < 300 else error
        responses[str(status)] = {"description": description, **body}
    if ep.path == "/healthz":
        responses["503"] = {
            "description": "MongoDB or a service did not answer",
            **_content("application/json", _ref("Health")),
        }
    return responses


def _operation(ep: Endpoint) -> OpenApiObject:
    op: OpenApiObject = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": f"{ep.method}_{ep.path}",
        "responses": _responses(ep),
    }
    params: list[object] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": PATH_PARAMS[part[1:-1]]}
        for part in ep.path.split("/")
        if part.startswith("{")
    ]
    params += [*ep.query, *ep.headers]
    if params:
        op["parameters"] = params
    if ep.request:
        op["requestBody"] = {
            "required": ep.body_required,
            **_content("application/json", _ref(ep.request)),
        }
    elif ep.raw_body:
        op["requestBody"] = {"required": False, **_content(*ep.raw_body)}
    if ep.description:
        op["description"] = ep.description
    if ep.tag == "webhooks" or ep.path in OPEN:
        # Open: a hook's secret or signature is its credential; probes and scrapes.
        op["security"] = []
    if ep.planned:
        op["x-cyclone-status"] = "planned"
    return op


def document() -> OpenApiObject:
    paths: dict[str, OpenApiObject] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cyclone API",
            "version": "v1",
            "description": "CI/CD control plane. Errors are {message, reason, details}. "
            f"Names: {names.NAME_PATTERN}, at most {names.MAX_NAME_LEN} characters.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
