"""JSON Schemas of the request bodies, after normalisation (domain/normalize.py).

One source for two readers: the validator (domain/validation.py) and the OpenAPI document
(services/api/openapi.py). Unknown fields are rejected everywhere (`additionalProperties`
false), so a typo never silently drops configuration.
"""

from __future__ import annotations

from typing import Any

from shared.contracts import stages

STAGES = stages.STAGES
SCM_TYPES = ("Github", "Gitlab", "SVN")
CODE_SOURCE_TYPES = ("Github", "Gitlab", "SVN", "other")
RELEASE_POLICY_TYPES = ("Always", "IntegrationTestSuccess")
NOTIFICATION_POLICIES = ("Always", "Success", "Failure")
RECEIVER_TYPES = ("email", "webhook", "slack")
INTEGRATION_TYPES = ("SonarQube",)
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
# Kubernetes resource quantity, e.g. 0.5, 500m, 1G, 2Gi.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
ADDRESS_MAX = 2048  # a notification address: a mail address or a webhook/Slack URL

# Fields the server sets; a client may send them back (GET then PUT) and they are ignored.
READ_ONLY = ("id", "creationTime", "lastUpdateTime")


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def string(max_length: int | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


NONEMPTY = {"type": "string", "minLength": 1}
BOOL = {"type": "boolean"}
STAGE = {"type": "string", "enum": list(STAGES)}
STAGE_LIST = array(STAGE, uniqueItems=True)
COMMANDS = array(NONEMPTY)
ENV_VARS = array(
    obj(
        {"name": string(256, pattern=ENV_NAME_PATTERN), "value": string(), "secret": BOOL},
        ("name",),
    )
)
DESCRIPTION = string(100)
ALIAS = string(100)
OWNER = string(256)
NAME = string(63)  # the regex is checked in validation.py, with a clearer message

# --- projects -------------------------------------------------------------------------------

SCM = obj(
    {
        "type": {"type": "string", "enum": list(SCM_TYPES)},
        "server": {**NONEMPTY, "maxLength": 2048},
        "username": string(256),
        "password": string(4096),
        "token": string(4096),
        "authType": {"type": "string", "enum": ["Password", "Token"]},
    },
    ("type", "server"),
)
REGISTRY = obj(
    {
        "server": {**NONEMPTY, "maxLength": 2048},
        "repository": {**NONEMPTY, "maxLength": 256},
        "username": string(256),
        "password": string(4096),
    },
    ("server", "repository"),
)
WORKER = obj(
    {
        "location": obj(
            {"cloudName": {**NONEMPTY, "maxLength": 63}, "namespace": string(63)},
            ("cloudName",),
        ),
        "namespace": string(63),
        "dependencyCaches": {
            "type": "object",
            "additionalProperties": obj({"name": NONEMPTY}, ("name",)),
        },
        "quota": obj({k: string(32, pattern=QUANTITY_PATTERN) for k in QUOTA_KEYS}),
    }
)
PROJECT = obj(
    {
        "name": NAME,
        "alias": ALIAS,
        "description": DESCRIPTION,
        "owner": OWNER,
        "scm": SCM,
        "registry": REGISTRY,
        "worker": WORKER,
    },
    ("scm",),
)

# --- pipelines ------------------------------------------------------------------------------

GIT_SOURCE = obj({"url": {**NONEMPTY, "maxLength": 2048}, "ref": string(256)}, ("url",))
SVN_SOURCE = obj(
    {
        "url": {**NONEMPTY, "maxLength": 2048},
        "ref": string(256),
        "username": string(256),
        "password": string(4096),
    },
    ("url",),
)
OTHER_SOURCE = obj(
    {
        "url": {**NONEMPTY, "maxLength": 2048},
        "ref": string(256),
        "path": string(1024),
        "username": string(256),
        "password": string(4096),
    },
    ("url",),
)
_SOURCE_PROPS: dict[str, Any] = {
    "type": {"type": "string", "enum": list(CODE_SOURCE_TYPES)},
    "github": GIT_SOURCE,
    "gitlab": GIT_SOURCE,
    "svn": SVN_SOURCE,
    "otherCodeSource": OTHER_SOURCE,
}
CODE_SOURCE = obj(_SOURCE_PROPS, ("type",))
DEP_SOURCE = obj({**_SOURCE_PROPS, "folder": string(1024)}, ("type",))
SCRIPT_STAGE = obj({"command": COMMANDS, "outputs": array(NONEMPTY), "allowFailure": BOOL})
PIPELINE_STAGES = obj(
    {
        "codeCheckout": obj(
            {"mainRepo": CODE_SOURCE, "depRepos": array(DEP_SOURCE)}, ("mainRepo",)
        ),
        "unitTest": SCRIPT_STAGE,
        "package": SCRIPT_STAGE,
        "codeScan": obj(
            {
                "sonarqube": obj(
                    {
                        "name": NONEMPTY,
                        "config": obj(
                            {
                                "sourcePath": string(1024),
                                "encodingStyle": string(64),
                                "language": string(64),
                                "threshold": {"type": ["string", "integer"]},
                            }
                        ),
                    },
                    ("name",),
                ),
                "command": COMMANDS,
                "outputs": array(NONEMPTY),
                "allowFailure": BOOL,
            }
        ),
        "imageBuild": obj(
            {
                "buildInfos": array(
                    obj(
                        {
                            "taskName": string(63),
                            "contextDir": string(1024),
                            "dockerfile": string(65536),
                            "dockerfilePath": string(1024),
                            "imageName": {**NONEMPTY, "maxLength": 512},
                        },
                        ("imageName",),
                    ),
                    minItems=1,
                ),
                "allowFailure": BOOL,
            },
            ("buildInfos",),
        ),
        "integrationTest": obj(
            {
                "config": obj(
                    {
                        "imageName": {**NONEMPTY, "maxLength": 512},
                        "command": COMMANDS,
                        "envVars": ENV_VARS,
                    },
                    ("imageName", "command"),
                ),
                "services": array(
                    obj(
                        {
                            "name": string(63, pattern=DNS_LABEL_PATTERN),
                            "image": {**NONEMPTY, "maxLength": 512},
                            "command": COMMANDS,
                            "envVars": ENV_VARS,
                        },
                        ("name", "image"),
                    )
                ),
                "allowFailure": BOOL,
            },
            ("config",),
        ),
        "imageRelease": obj(
            {
                "releasePolicies": array(
                    obj(
                        {
                            "imageName": {**NONEMPTY, "maxLength": 512},
                            "type": {"type": "string", "enum": list(RELEASE_POLICY_TYPES)},
                        },
                        ("imageName", "type"),
                    )
                ),
                "allowFailure": BOOL,
            },
            ("releasePolicies",),
        ),
    },
    ("codeCheckout",),
)
BUILD = obj(
    {
        "builderImage": obj(
            {"image": {**NONEMPTY, "maxLength": 512}, "envVars": ENV_VARS}, ("image",)
        ),
        "stages": PIPELINE_STAGES,
        "buildInfo": {"type": "object"},  # legacy buildTool/cacheDependency hints, kept as is
    },
    ("builderImage", "stages"),
)
SCM_TRIGGER = obj(
    {
        "push": obj({"stages": STAGE_LIST, "branches": array(NONEMPTY)}),
        "tagRelease": obj({"stages": STAGE_LIST}),
        "pullRequest": obj({"stages": STAGE_LIST}),
        "pullRequestComment": obj({"stages": STAGE_LIST, "comments": array(NONEMPTY)}),
        "postCommit": obj({"stages": STAGE_LIST}),
        # The secret GitHub signs deliveries with (X-Hub-Signature-256) and GitLab sends as
        # X-Gitlab-Token; sealed at rest, masked in answers.
        "webhookSecret": string(256),
        "forkSecrets": {
            **BOOL,
            "default": False,
            "description": (
                "Trust pull requests from forks. By default a run started by a pull/merge "
                "request, or by a pullRequestComment on one, whose head repository is not "
                "the pipeline's repository is untrusted: it gets no secret (SCM token, "
                "registry password, SonarQube token, secret envVars; the checkout is "
                "anonymous), imageRelease and a codeScan with a token are skipped "
                "(stageStatus status Skipped, skipReason), and the record has "
                "trusted: false and untrustedReason. true gives such runs every secret."
            ),
        },
    }
)
AUTO_TRIGGER = obj(
    {
        "cronTrigger": obj(
            {"crons": array(obj({"expression": NONEMPTY, "stages": STAGE_LIST}, ("expression",)))}
        ),
        "scmTrigger": SCM_TRIGGER,
    }
)
NOTIFICATION = obj(
    {
        "policy": {"type": "string", "enum": list(NOTIFICATION_POLICIES)},
        "receivers": array(
            obj(
                {
                    "type": {"type": "string", "enum": list(RECEIVER_TYPES)},
                    "addresses": array({**NONEMPTY, "maxLength": ADDRESS_MAX}),
                    "groups": array(string(256)),
                },
                ("type",),
            )
        ),
    }
)
PIPELINE = obj(
    {
        "name": NAME,
        "alias": ALIAS,
        "description": DESCRIPTION,
        "owner": OWNER,
        "build": BUILD,
        "autoTrigger": AUTO_TRIGGER,
        "notification": NOTIFICATION,
        "annotations": {"type": "object", "additionalProperties": string(4096)},
    },
    ("build",),
)

# --- integrations ---------------------------------------------------------------------------

INTEGRATION = obj(
    {
        "name": NAME,
        "alias": ALIAS,
        "type": {"type": "string", "enum": list(INTEGRATION_TYPES)},
        "sonarqube": obj(
            {
                "description": DESCRIPTION,
                "address": {**NONEMPTY, "maxLength": 2048, "pattern": r"^https?://[^\s]+$"},
                "token": string(4096),
                "user": string(256),
            },
            ("address",),
        ),
    },
    ("type", "sonarqube"),
)

# --- records --------------------------------------------------------------------------------

RECORD_REQUEST = obj(
    {
        "ref": {**NONEMPTY, "maxLength": 256},
        "name": NAME,
        "description": DESCRIPTION,
        "createScmTag": BOOL,
        "cacheDependency": BOOL,
        "stages": STAGE_LIST,
    },
    ("ref",),
)
RECORD_STATUS = obj({"status": {"type": "string", "enum": ["Aborted"]}}, ("status",))

# --- clouds ---------------------------------------------------------------------------------

CLOUD_TYPES = ("Docker", "Kubernetes", "Local")
CLOUD = obj(
    {
        "name": NAME,
        "type": {"type": "string", "enum": list(CLOUD_TYPES)},
        "docker": obj(
            {
                "host": {**NONEMPTY, "maxLength": 2048, "pattern": r"^(unix|tcp)://\S+$"},
                "certPath": string(1024),
                "insecure": BOOL,
            },
            ("host",),
        ),
        "kubernetes": obj(
            {
                "host": string(2048),
                "namespace": string(63, pattern=DNS_LABEL_PATTERN),
                "bearerToken": string(8192),
                "username": string(256),
                "password": string(4096),
                "inCluster": BOOL,
                "tlsClientConfig": obj(
                    {"insecure": BOOL, "caFile": string(1024), "caData": string(65536)}
                ),
            }
        ),
    },
    ("name", "type"),
)
