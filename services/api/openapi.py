"""The OpenAPI 3 document of the whole API, built from one endpoint table.

Every path of the spec (shared/spec/cyclone-api-v1.md) is listed. Endpoints whose capability
has not landed yet carry `x-cyclone-status: planned` and are not routed, so the document
says honestly what answers today; tests/api/test_openapi.py checks both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api.domain import schemas
from services.api.resources.templates import FIELDS as TEMPLATE_FIELDS

P = "/api/v1/projects/{project}"
PL = P + "/pipelines/{pipeline}"
R = PL + "/records/{recordid}"


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
    query: tuple[str, ...] = ()
    description: str = ""
    body_required: bool = True


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
HOOK_SECRET_HEADER = {
    "name": "X-Cyclone-Secret",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
}


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

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "get",
        "/api/v1/projects",
        "List projects",
        "projects",
        None,
        "ProjectList",
        query=("start", "limit"),
    ),
    Endpoint(
        "post", "/api/v1/projects", "Create a project", "projects", "ProjectInput", "Project", 201
    ),
    Endpoint("get", P, "Get a project", "projects", None, "Project"),
    Endpoint("put", P, "Replace a project", "projects", "ProjectInput", "Project"),
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
        query=("start", "limit", "recentCount", "recentSuccessCount", "recentFailedCount"),
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
        query=("recentCount", "recentSuccessCount", "recentFailedCount"),
    ),
    Endpoint("put", PL, "Replace a pipeline", "pipelines", "PipelineInput", "Pipeline"),
    Endpoint("delete", PL, "Delete a pipeline", "pipelines", status=204),
    Endpoint("get", PL + "/records", "List records", "records", query=("start", "limit")),
    Endpoint("post", PL + "/records", "Run a pipeline", "records", status=201),
    Endpoint("get", R, "Get a record", "records"),
    Endpoint("delete", R, "Delete a record", "records", status=204),
    Endpoint("patch", R + "/status", "Abort a record", "records"),
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
        query=("stage", "task", "download"),
    ),
    Endpoint(
        "get",
        R + "/logstream",
        "Follow a record's log (WebSocket)",
        "logs",
        query=("stage", "task", "ticket", "token"),
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
        status=201,
        description="Answers {ticket, expiresAt, expiresIn}: good for one ?ticket= within 60 s.",
    ),
    Endpoint("get", P + "/repos", "List SCM repositories", "scm", None, "RepoList"),
    Endpoint("get", P + "/branches", "List branches", "scm", None, "NameList", query=("repo",)),
    Endpoint("get", P + "/tags", "List tags", "scm", None, "NameList", query=("repo",)),
    Endpoint(
        "get",
        P + "/templatetype",
        "Detect a repository's template type",
        "scm",
        None,
        "TemplateType",
        query=("repo",),
    ),
    Endpoint(
        "get",
        P + "/dockerfiles",
        "List Dockerfiles in a repository",
        "scm",
        None,
        "NameList",
        query=("repo",),
    ),
    Endpoint(
        "post",
        "/api/v1/pipelines/{pipelineid}/githubwebhook",
        "GitHub webhook",
        "webhooks",
        description=WEBHOOK,
    ),
    Endpoint(
        "post",
        "/api/v1/pipelines/{pipelineid}/gitlabwebhook",
        "GitLab webhook",
        "webhooks",
        description=WEBHOOK,
    ),
    Endpoint(
        "post",
        "/api/v1/subversion/{svnrepoid}/postcommithook",
        "SVN post-commit hook",
        "webhooks",
        query=("revision",),
        description=SVN_HOOK,
    ),
    Endpoint("get", P + "/stats", "Project stats", "stats", query=("startTime", "endTime")),
    Endpoint(
        "get",
        PL + "/stats",
        "Pipeline stats",
        "stats",
        query=("startTime", "endTime"),
    ),
    Endpoint("post", "/api/v1/clouds", "Create a cloud", "clouds", "CloudInput", "Cloud", 201),
    Endpoint("get", "/api/v1/clouds", "List clouds", "clouds", None, "CloudList"),
    Endpoint("get", "/api/v1/clouds/{cloud}", "Get a cloud", "clouds", None, "Cloud"),
    Endpoint("put", "/api/v1/clouds/{cloud}", "Replace a cloud", "clouds", "CloudInput", "Cloud"),
    Endpoint("delete", "/api/v1/clouds/{cloud}", "Delete a cloud", "clouds", status=204),
    Endpoint("get", "/api/v1/clouds/{cloud}/ping", "Check a cloud", "clouds"),
    Endpoint(
        "get",
        "/api/v1/clouds/{cloud}/workers",
        "List a cloud's workers",
        "clouds",
        query=("namespace",),
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
        query=("start", "limit"),
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
        "IntegrationInput",
        "Integration",
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
    Endpoint("get", "/metrics", "Prometheus metrics", "meta"),
    Endpoint("get", "/api/v1/openapi.json", "This document", "meta"),
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
    "id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
    "creationTime": {"type": "string", "format": "date-time"},
    "lastUpdateTime": {"type": "string", "format": "date-time"},
}


def _answer(input_schema: dict[str, Any], **more: Any) -> dict[str, Any]:
    props = {**input_schema["properties"], **_STORED, **more}
    return {"type": "object", "properties": props}


def _list(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"total": {"type": "integer"}}},
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        },
    }


def components() -> dict[str, Any]:
    record_list = {"type": "array", "items": {"type": "object"}}
    return {
        "Error": _ERROR,
        "ProjectInput": schemas.PROJECT,
        "ProjectPatch": {"type": "object", "description": "JSON merge patch of a project"},
        "Project": _answer(schemas.PROJECT),
        "ProjectList": _list("Project"),
        "PipelineInput": schemas.PIPELINE,
        "Pipeline": _answer(
            schemas.PIPELINE,
            projectID={"type": "string"},
            recentRecords=record_list,
            recentSuccessRecords=record_list,
            recentFailedRecords=record_list,
        ),
        "PipelineList": _list("Pipeline"),
        "IntegrationInput": schemas.INTEGRATION,
        "Integration": _answer(schemas.INTEGRATION),
        "IntegrationList": _list("Integration"),
        "CloudInput": schemas.CLOUD,
        "Cloud": _answer(schemas.CLOUD),
        "CloudList": _list("Cloud"),
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
        "RerunInput": {
            "type": "object",
            "properties": {"from": {"type": "string", "enum": ["start", "failed"]}},
            "additionalProperties": False,
        },
        "Record": {
            "type": "object",
            "description": "A PipelineRecordObject (the spec's Records section); fields below "
            "are those reruns and artifacts add.",
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string"},
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
                                "description": "a rerun's stage not run again: the record "
                                "that ran it",
                            },
                        },
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                "failing": {"type": "array", "items": {"type": "string"}},
            },
        },
    }


def _operation(ep: Endpoint) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    ok: dict[str, Any] = {"description": "success"}
    if ep.response:
        ok["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ep.response}"}}
        }
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": f"{ep.method}_{ep.path}",
        "responses": {
            str(ep.status): ok,
            "400": {"description": "invalid input", **error},
            "401": {"description": "missing or invalid bearer token", **error},
            "404": {"description": "unknown resource", **error},
        },
    }
    params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in ep.path.split("/")
        if part.startswith("{")
    ]
    params += [
        {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
        for q in ep.query
    ]
    if params:
        op["parameters"] = params
    if ep.request:
        op["requestBody"] = {
            "required": ep.body_required,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{ep.request}"}}
            },
        }
        op["responses"]["409"] = {"description": "duplicate name", **error}
        op["responses"]["413"] = {"description": "body larger than 1 MiB", **error}
    if ep.tag == "scm" or (ep.tag in ("projects", "pipelines") and ep.method != "get"):
        # They ask the SCM (credentials, listings, webhooks on the repository).
        op["responses"]["403"] = {"description": "the SCM denied the permission", **error}
        op["responses"]["502"] = {"description": "the SCM did not answer well", **error}
    if ep.description:
        op["description"] = ep.description
    if ep.tag == "webhooks":
        # Open: the hook's secret or signature is its credential, and bodies are capped.
        op["security"] = []
        op["responses"]["401"] = {"description": "missing or wrong secret or signature", **error}
        op["responses"]["413"] = {"description": "body larger than 5 MiB", **error}
        if "{svnrepoid}" in ep.path:
            op["parameters"] = [*op.get("parameters", []), HOOK_SECRET_HEADER]
    if ep.path in OPEN:
        op["security"] = []
    if ep.planned:
        op["x-cyclone-status"] = "planned"
    return op


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cyclone API",
            "version": "v1",
            "description": "CI/CD control plane. Errors are {message, reason, details}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
