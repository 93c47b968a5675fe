"""JSON Schemas of the request bodies, after normalisation (domain/validation.py `*_spec`).

One source for two readers: the validator (domain/validation.py) and the OpenAPI document
(services/api/openapi.py). Unknown fields are rejected everywhere (`additionalProperties`
false), so a typo never silently drops configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from services.api.domain import names
from services.api.domain.secrets import MASK
from shared.contracts import stages
from shared.contracts.catalog import (
    CODE_SOURCE_TYPES,
    NOTIFICATION_POLICIES,
    RECEIVER_TYPES,
    SCM_TYPES,
)

# A JSON Schema (or a part of one): free-form JSON by nature. The builders below take any
# mapping (module constants are inferred narrower, e.g. dict[str, str]) and make dicts.
JsonSchema = dict[str, object]
Schema = Mapping[str, object]

STAGES = stages.STAGES
RELEASE_POLICY_TYPES = ("Always", "IntegrationTestSuccess")
INTEGRATION_TYPES = ("SonarQube",)
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
# Kubernetes resource quantity, e.g. 0.5, 500m, 1G, 2Gi.
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
ADDRESS_MAX = 2048  # a notification address: a mail address or a webhook/Slack URL

# White space as Python's `\s` knows it (see SPACE below): patterns spell it out.
_SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# Fields the server sets; a client may send them back (GET then PUT) and they are ignored.
READ_ONLY = ("id", "creationTime", "lastUpdateTime")


def obj(props: Mapping[str, Schema], required: tuple[str, ...] = (), **extra: object) -> JsonSchema:
    schema: JsonSchema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def string(max_length: int | None = None, **extra: object) -> JsonSchema:
    schema: JsonSchema = {"type": "string", **extra}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def array(items: Schema, **extra: object) -> JsonSchema:
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
NAME = string(names.MAX_NAME_LEN)  # the regex is checked in validation.py, with a clearer message

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
_SOURCE_PROPS: dict[str, Schema] = {
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
                "address": {**NONEMPTY, "maxLength": 2048, "pattern": rf"^https?://[^{_SPACE}]+$"},
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
                "host": {**NONEMPTY, "maxLength": 2048, "pattern": rf"^(unix|tcp)://[^{_SPACE}]+$"},
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

# --- rules checked in code, as JSON Schema ----------------------------------------------------
#
# validation.py checks some rules in Python, after normalising (names, credentials, a type's
# section, notification addresses, crons, the webhook secret), for clearer messages. The
# OpenAPI document (services/api/openapi.py) states the same rules as JSON Schema, built here
# from the constants those checks use, so a client (or a fuzzer) that follows the document is
# never refused for a rule it could not read. tests/unit/test_merge_and_openapi.py feeds bodies
# generated from the document to the validators, and tests/api/test_fuzz.py runs schemathesis
# against a real stack, so the two cannot drift apart.

# White space as Python's `\s` and str.strip() know it, spelled out: ECMA-262's `\s` differs
# (it lacks \x1c-\x1f and \x85, and has \ufeff), so a pattern written with `\s` would let a
# client following the document send what the server refuses.
SPACE = _SPACE
# Mail and http(s) URL addresses of notification receivers, as ECMA-262 patterns; the
# validator's regexes are these (`fullmatch_regex`).
EMAIL_PATTERN = rf"^[^@{SPACE}<>,;]+@[^@{SPACE}<>,;.][^@{SPACE}<>,;]*$"
HTTP_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://[^{SPACE}/?#][^{SPACE}]*$"
MIN_HOOK_SECRET = 16  # a postCommit webhookSecret: the SVN hook's only credential
# Visible ASCII without a space at either end (an HTTP header value), at least 16 characters.
HOOK_SECRET_PATTERN = rf"^[!-~][ -~]{{{MIN_HOOK_SECRET - 2},}}[!-~]$"


def fullmatch_regex(pattern: str) -> re.Pattern[str]:
    """An anchored ECMA-262 pattern of this module as a Python regex for `fullmatch`, every
    repetition made possessive: the patterns are unambiguous, so giving nothing back changes
    no answer and keeps each match one pass (tests/unit/test_regex_cost.py)."""
    body = pattern.removeprefix("^").removesuffix("$")
    return re.compile(re.sub(r"(?<=[\])])([+*])", r"\1+", body))


def optional_pattern(pattern: str) -> str:
    """`pattern` (anchored) or the empty string."""
    return f"^(?:{pattern.removeprefix('^').removesuffix('$')})?$"


def sub(schema: Schema, *keys: str) -> Schema:
    """The schema at `keys` under `schema` (`sub(SCM, "properties", "server")`)."""
    for key in keys:
        found = schema[key]
        if not isinstance(found, dict):
            raise TypeError(f"{key} is not a schema")
        schema = found
    return schema


def _nonempty(field: str, **extra: object) -> JsonSchema:
    """`field` is present and a non-empty string."""
    return {"required": [field], "properties": {field: {"type": "string", "minLength": 1, **extra}}}


def _usable_secret(field: str) -> JsonSchema:
    """`field` holds a secret in clear: not empty, not the mask (which keeps a stored value,
    and a create has none)."""
    return _nonempty(field, **{"not": {"const": MASK}})


def _all_of(schema: Schema, *rules: Schema, **props: Schema) -> JsonSchema:
    """`schema` with some properties replaced and `rules` that must hold as well."""
    out = {**schema, "properties": {**sub(schema, "properties"), **props}}
    if rules:
        given = schema.get("allOf", [])
        out["allOf"] = [*(given if isinstance(given, list) else [given]), *rules]
    return out


# `name`, when not empty, follows the name rules; empty or absent, it is made from `alias`.
OPTIONAL_NAME = string(names.MAX_NAME_LEN, pattern=optional_pattern(names.NAME_PATTERN))
REQUIRED_NAME = string(names.MAX_NAME_LEN, pattern=names.NAME_PATTERN)
NAME_OR_ALIAS = {"anyOf": [_nonempty("name"), _nonempty("alias")]}

# A cron expression the validator's croniter check accepts: five fields of numbers in range,
# `*`, ranges, lists and steps (croniter also takes names like `mon`: accepted, not documented).
_CRON_FIELDS = (
    r"[0-5]?[0-9]",  # minute
    r"(?:[01]?[0-9]|2[0-3])",  # hour
    r"(?:0?[1-9]|[12][0-9]|3[01])",  # day of month
    r"(?:0?[1-9]|1[0-2])",  # month
    r"[0-7]",  # day of week (0 and 7: Sunday)
)


def _cron_field(value: str) -> str:
    item = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]{{0,2}})?"
    return rf"{item}(?:,{item})*"


CRON_PATTERN = "^" + " ".join(_cron_field(v) for v in _CRON_FIELDS) + "$"
CRON_MAX = 256

# --- projects

# The server is stored without trailing slashes, and must not be empty then.
_SCM_SERVER = {**sub(SCM, "properties", "server"), "pattern": "[^/]"}
PASSWORD_NEEDS_USERNAME = {
    "if": _nonempty("password"),
    "then": _nonempty("username"),
}
SCM_CREDENTIALS = {
    "anyOf": [
        _usable_secret("token"),
        {"allOf": [_nonempty("username"), _usable_secret("password")]},
    ]
}
SCM_REPLACE_INPUT = _all_of(SCM, PASSWORD_NEEDS_USERNAME, server=_SCM_SERVER)
SCM_CREATE_INPUT = _all_of(SCM_REPLACE_INPUT, SCM_CREDENTIALS)
PROJECT_REPLACE_INPUT = _all_of(PROJECT, NAME_OR_ALIAS, name=OPTIONAL_NAME, scm=SCM_REPLACE_INPUT)
PROJECT_CREATE_INPUT = _all_of(PROJECT_REPLACE_INPUT, scm=SCM_CREATE_INPUT)

# --- pipelines

_SOURCE_BLOCKS = {"Github": "github", "Gitlab": "gitlab", "SVN": "svn", "other": "otherCodeSource"}
# A code source's type names the block with its address.
SOURCE_TYPE_BLOCK = {
    "anyOf": [
        {
            "required": ["type", block],
            "properties": {"type": {"const": kind}, block: {"type": "object"}},
        }
        for kind, block in _SOURCE_BLOCKS.items()
    ]
}
CODE_SOURCE_INPUT = _all_of(CODE_SOURCE, SOURCE_TYPE_BLOCK)
DEP_SOURCE_INPUT = _all_of(DEP_SOURCE, SOURCE_TYPE_BLOCK)
# The create-body shape: `codeSources[]`, exactly one with `main: true` (stored as mainRepo,
# so it takes no `folder`), the others stored as depRepos.
CODE_SOURCES_ITEM = {
    "anyOf": [
        _all_of(CODE_SOURCE_INPUT, {"required": ["main"]}, main={"const": True}),
        _all_of(DEP_SOURCE_INPUT, main={"const": False}),
    ]
}
_MAIN = {"required": ["main"], "properties": {"main": {"const": True}}}
CODE_CHECKOUT_INPUT = {
    "type": "object",
    "properties": {
        "mainRepo": CODE_SOURCE_INPUT,
        "depRepos": array(DEP_SOURCE_INPUT),
        "codeSources": array(CODE_SOURCES_ITEM, contains=_MAIN, minContains=1, maxContains=1),
    },
    "additionalProperties": False,
    "oneOf": [{"required": ["mainRepo"]}, {"required": ["codeSources"]}],
}
_CRON_TRIGGER = sub(AUTO_TRIGGER, "properties", "cronTrigger")
_CRON = sub(_CRON_TRIGGER, "properties", "crons", "items")
CRON_TRIGGER_INPUT = _all_of(
    _CRON_TRIGGER,
    crons=array(
        _all_of(_CRON, expression={**NONEMPTY, "maxLength": CRON_MAX, "pattern": CRON_PATTERN})
    ),
)
# A postCommit trigger's webhookSecret is the hook's credential: empty or left out, one is
# generated; the mask keeps the stored one.
_HOOK_SECRET = string(
    256, pattern=rf"^(?:|\*{{{len(MASK)}}}|{HOOK_SECRET_PATTERN.removeprefix('^')[:-1]})$"
)
SCM_TRIGGER_INPUT = {
    **SCM_TRIGGER,
    "if": {"required": ["postCommit"]},
    "then": {"properties": {"webhookSecret": _HOOK_SECRET}},
}
AUTO_TRIGGER_INPUT = _all_of(
    AUTO_TRIGGER, cronTrigger=CRON_TRIGGER_INPUT, scmTrigger=SCM_TRIGGER_INPUT
)
_RECEIVER = sub(NOTIFICATION, "properties", "receivers", "items")
_ADDRESS_KINDS = (
    (("webhook", "slack"), HTTP_URL_PATTERN),
    (("email",), EMAIL_PATTERN),
)
# Webhook and Slack receivers take http(s) URLs, email ones mail addresses.
RECEIVER_ADDRESSES = {
    "anyOf": [
        {
            "properties": {
                "type": {"enum": list(kinds)},
                "addresses": array({**NONEMPTY, "maxLength": ADDRESS_MAX, "pattern": pattern}),
            }
        }
        for kinds, pattern in _ADDRESS_KINDS
    ]
}
NOTIFICATION_INPUT = _all_of(NOTIFICATION, receivers=array(_all_of(_RECEIVER, RECEIVER_ADDRESSES)))
PIPELINE_STAGES_INPUT = _all_of(PIPELINE_STAGES, codeCheckout=CODE_CHECKOUT_INPUT)
BUILD_INPUT = _all_of(BUILD, stages=PIPELINE_STAGES_INPUT)
# A postCommit trigger needs an SVN main repository (its UUID is what the hook reports).
_SVN_MAIN = {"required": ["type"], "properties": {"type": {"const": "SVN"}}}
POST_COMMIT_NEEDS_SVN = {
    "if": {
        "required": ["autoTrigger"],
        "properties": {
            "autoTrigger": {
                "required": ["scmTrigger"],
                "properties": {"scmTrigger": {"required": ["postCommit"]}},
            }
        },
    },
    "then": {
        "properties": {
            "build": {
                "properties": {
                    "stages": {
                        "properties": {
                            "codeCheckout": {
                                "anyOf": [
                                    {"properties": {"mainRepo": _SVN_MAIN}},
                                    {
                                        "properties": {
                                            "codeSources": {
                                                "contains": {"allOf": [_MAIN, _SVN_MAIN]}
                                            }
                                        }
                                    },
                                ]
                            }
                        }
                    }
                }
            }
        }
    },
}
PIPELINE_INPUT = _all_of(
    PIPELINE,
    NAME_OR_ALIAS,
    POST_COMMIT_NEEDS_SVN,
    name=OPTIONAL_NAME,
    build=BUILD_INPUT,
    autoTrigger=AUTO_TRIGGER_INPUT,
    notification=NOTIFICATION_INPUT,
)

# --- integrations, records, clouds

INTEGRATION_REPLACE_INPUT = _all_of(INTEGRATION, NAME_OR_ALIAS, name=OPTIONAL_NAME)
INTEGRATION_CREATE_INPUT = _all_of(
    INTEGRATION_REPLACE_INPUT,
    sonarqube=_all_of(sub(INTEGRATION, "properties", "sonarqube"), _usable_secret("token")),
)
RECORD_REQUEST_INPUT = _all_of(RECORD_REQUEST, name=OPTIONAL_NAME)

# A cloud's type names the section it needs; the other section is not allowed.
CLOUD_SECTIONS = {
    "anyOf": [
        {
            "properties": {"type": {"const": "Docker"}},
            "required": ["docker"],
            "not": {"required": ["kubernetes"]},
        },
        {
            "properties": {"type": {"const": "Kubernetes"}},
            "required": ["kubernetes"],
            "not": {"required": ["docker"]},
        },
        {
            "properties": {"type": {"const": "Local"}},
            "not": {"anyOf": [{"required": ["docker"]}, {"required": ["kubernetes"]}]},
        },
    ]
}
_K8S = sub(CLOUD, "properties", "kubernetes")
# Outside the cluster a Kubernetes cloud names its API server; a namespace always.
K8S_PLACE = {
    "allOf": [
        _nonempty("namespace"),
        {
            "anyOf": [
                {"required": ["inCluster"], "properties": {"inCluster": {"const": True}}},
                _nonempty("host"),
            ]
        },
    ]
}
# ... and, outside the cluster, a bearer token or a username and password (kept on a PUT).
K8S_CREDENTIALS = {
    "anyOf": [
        {"required": ["inCluster"], "properties": {"inCluster": {"const": True}}},
        _usable_secret("bearerToken"),
        {"allOf": [_nonempty("username"), _usable_secret("password")]},
    ]
}
CLOUD_REPLACE_INPUT = _all_of(
    CLOUD, CLOUD_SECTIONS, name=REQUIRED_NAME, kubernetes=_all_of(_K8S, K8S_PLACE)
)
CLOUD_CREATE_INPUT = _all_of(
    CLOUD_REPLACE_INPUT, kubernetes=_all_of(_K8S, K8S_PLACE, K8S_CREDENTIALS)
)
