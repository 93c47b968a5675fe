"""Normalise and validate request bodies for projects, pipelines and integrations.

Each `*_spec` function takes the decoded JSON body and returns the document to store (still
with plain-text secrets; domain/secrets.py seals them), or raises ValidationFailed naming
every problem with its JSON path.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from typing import Any, cast

from croniter import croniter
from jsonschema import Draft202012Validator, ValidationError, validators

from services.api.domain import schemas
from services.api.domain.errors import ValidationFailed
from services.api.domain.names import name_problem
from services.api.domain.secrets import MASK
from shared.contracts import catalog
from shared.contracts.catalog import Cloud, Integration, Pipeline, Project
from shared.contracts.records import PerformParams

# A request body before it is checked: any JSON object.
Body = dict[str, object]


@functools.lru_cache(maxsize=64)
def schema_regex(pattern: str) -> re.Pattern[str]:
    """A schema `pattern` as ECMA-262 (what JSON Schema and the OpenAPI document mean) reads it:
    a final `$` is the end of the string; Python's `$` also matches before a final newline,
    which would let an env var name with a trailing newline pass. Every pattern is linear
    (tests/unit/test_regex_cost.py)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not schema_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})

_VALIDATORS = {
    "project": _Validator(schemas.PROJECT),
    "pipeline": _Validator(schemas.PIPELINE),
    "integration": _Validator(schemas.INTEGRATION),
    "record": _Validator(schemas.RECORD_REQUEST),
    "status": _Validator(schemas.RECORD_STATUS),
    "cloud": _Validator(schemas.CLOUD),
}

# Read-only fields a client may echo back from a GET; ignored on input.
_PIPELINE_READ_ONLY = (
    *schemas.READ_ONLY,
    "projectID",
    "recentRecords",
    "recentSuccessRecords",
    "recentFailedRecords",
)
_QUOTA_ALIASES = {
    "requestsCPU": "requests.cpu",
    "requestsMemory": "requests.memory",
    "limitsCPU": "limits.cpu",
    "limitsMemory": "limits.memory",
}
_SOURCE_BLOCK_ALIASES = {"gitHub": "github", "gitLab": "gitlab", "SVN": "svn"}
_SOURCE_BLOCK_FOR_TYPE = {
    "Github": "github",
    "Gitlab": "gitlab",
    "SVN": "svn",
    "other": "otherCodeSource",
}


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _check(kind: str, doc: Body, extra: list[tuple[str, str]] | None = None) -> None:
    problems = [
        (_path(e.absolute_path), e.message)
        for e in sorted(_VALIDATORS[kind].iter_errors(doc), key=lambda e: list(e.absolute_path))
    ]
    problems += extra or []
    if problems:
        details = [{"field": field, "error": msg} for field, msg in problems]
        first = details[0]
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise ValidationFailed(f"invalid {kind}: {first['field']}: {first['error']}{more}", details)


def _obj(value: object) -> Body:
    """`value` when it is an object, else an empty one (the schema says what is wrong)."""
    return value if isinstance(value, dict) else {}


def _require_object(body: object, kind: str) -> Body:
    if not isinstance(body, dict):
        raise ValidationFailed(f"the {kind} body must be a JSON object")
    return copy.deepcopy(body)


def _canonical(value: Any, choices: tuple[str, ...]) -> Any:
    """Case-insensitive enum match; unknown values pass through for the schema to reject."""
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        if value.lower() in ("other", "othercodesource"):
            return "other" if "other" in choices else value
    return value


def _name_checks(doc: Body) -> list[tuple[str, str]]:
    name = doc.get("name")
    if isinstance(name, str) and name:
        problem = name_problem(name)
        if problem:
            return [("name", problem)]
    if not doc.get("name") and not doc.get("alias"):
        return [("name", "name or alias is required (the name is generated from the alias)")]
    return []


def _drop(doc: Body, keys: tuple[str, ...]) -> None:
    for key in keys:
        doc.pop(key, None)


# --- projects -------------------------------------------------------------------------------


def project_spec(body: object) -> Project:
    doc = _require_object(body, "project")
    _drop(doc, schemas.READ_ONLY)
    scm = doc.get("scm")
    if isinstance(scm, dict):
        scm["type"] = _canonical(scm.get("type"), catalog.SCM_TYPES)
        if isinstance(scm.get("server"), str):
            scm["server"] = scm["server"].rstrip("/")
    worker = doc.get("worker")
    if isinstance(worker, dict) and isinstance(worker.get("quota"), dict):
        worker["quota"] = {_QUOTA_ALIASES.get(k, k): v for k, v in worker["quota"].items()}
    extra = _name_checks(doc)
    if isinstance(scm, dict) and scm.get("password") and not scm.get("username"):
        extra.append(("scm.username", "is required with a password"))
    _check("project", doc, extra)
    return cast(Project, doc)  # the schema checked its shape


# --- pipelines ------------------------------------------------------------------------------


def _normalise_source(src: Any) -> Any:
    if not isinstance(src, dict):
        return src
    for alias, key in _SOURCE_BLOCK_ALIASES.items():
        if alias in src and key not in src:
            src[key] = src.pop(alias)
    src["type"] = _canonical(src.get("type"), catalog.CODE_SOURCE_TYPES)
    return src


def _normalise_checkout(checkout: Body, problems: list[tuple[str, str]]) -> None:
    """Accept the create-body shape `codeSources[]` (one with main: true) and store mainRepo."""
    sources = checkout.pop("codeSources", None)
    if sources is not None:
        if "mainRepo" in checkout:
            problems.append(("build.stages.codeCheckout", "give mainRepo or codeSources, not both"))
            return
        if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
            problems.append(("build.stages.codeCheckout.codeSources", "must be a list of objects"))
            return
        mains = [s for s in sources if s.get("main") is True]
        if len(mains) != 1:
            problems.append(
                ("build.stages.codeCheckout.codeSources", "exactly one source needs main: true")
            )
            return
        for src in sources:
            src.pop("main", None)
        checkout["mainRepo"] = mains[0]
        deps = [s for s in sources if s is not mains[0]]
        if deps:
            given = checkout.get("depRepos", [])
            # not a list: left for the schema to refuse
            checkout["depRepos"] = [*given, *deps] if isinstance(given, list) else given
    checkout["mainRepo"] = _normalise_source(checkout.get("mainRepo"))
    dep_repos = checkout.get("depRepos")
    if isinstance(dep_repos, list):
        checkout["depRepos"] = [_normalise_source(s) for s in dep_repos]


def _source_checks(checkout: Body) -> list[tuple[str, str]]:
    out = []
    found = [("build.stages.codeCheckout.mainRepo", checkout.get("mainRepo"))]
    deps = checkout.get("depRepos")
    for i, dep in enumerate(deps if isinstance(deps, list) else []):
        found.append((f"build.stages.codeCheckout.depRepos[{i}]", dep))
    for path, src in found:
        if not isinstance(src, dict):
            continue
        block = _SOURCE_BLOCK_FOR_TYPE.get(src.get("type", ""))
        if block and not isinstance(src.get(block), dict):
            out.append((path, f"type {src['type']} needs a '{block}' block with its url"))
    return out


MIN_HOOK_SECRET = schemas.MIN_HOOK_SECRET


def _hook_secret_checks(secret: Any) -> list[tuple[str, str]]:
    """A postCommit pipeline's webhookSecret is what the SVN hook sends as X-Cyclone-Secret,
    its only credential: a header value (visible ASCII, no spaces at either end, which HTTP
    would strip) of at least 16 characters. None, "" or the mask: generated or kept."""
    if not isinstance(secret, str) or secret in ("", MASK):
        return []
    where = "autoTrigger.scmTrigger.webhookSecret"
    if not (secret.isascii() and secret.isprintable()) or secret != secret.strip():
        return [(where, "must be visible ASCII without spaces at either end (an HTTP header)")]
    if len(secret) < MIN_HOOK_SECRET:
        return [(where, f"must be at least {MIN_HOOK_SECRET} characters for a postCommit trigger")]
    return []


def _cron_checks(doc: Body) -> list[tuple[str, str]]:
    crons = _obj(_obj(doc.get("autoTrigger")).get("cronTrigger")).get("crons")
    out = []
    for i, cron in enumerate(crons if isinstance(crons, list) else []):
        expr = cron.get("expression") if isinstance(cron, dict) else None
        if (
            isinstance(expr, str)
            and expr
            and (len(expr.split()) != 5 or not croniter.is_valid(expr))
        ):
            out.append(
                (
                    f"autoTrigger.cronTrigger.crons[{i}].expression",
                    f"{expr!r} is not a standard 5-field cron expression",
                )
            )
    return out


# Used with fullmatch. Possessive quantifiers: no split of the input is ever tried twice (the
# URL rule was `[^\s/?#]+[^\s]*`, two overlapping runs, quadratic in the length). The same as
# the patterns the OpenAPI document states (schemas.EMAIL_PATTERN, HTTP_URL_PATTERN; white
# space spelled out as Python's `\s` reads it, schemas.SPACE), written out here so
# tests/unit/test_regex_cost.py measures them; tests/unit/test_merge_and_openapi.py checks
# they are `schemas.fullmatch_regex` of those.
EMAIL_RE = re.compile(
    r"[^@\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;]++"
    r"@[^@\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;.]"
    r"[^@\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>,;]*+"
)
HTTP_URL_RE = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://"
    r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/?#]"
    r"[^\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*+"
)


def _notification_checks(doc: Body) -> list[tuple[str, str]]:
    """Canonical policy and receiver types; addresses that can be sent to (http(s) URLs for
    webhook and Slack receivers, mail addresses for email ones)."""
    notification = doc.get("notification")
    if not isinstance(notification, dict):
        return []
    notification["policy"] = _canonical(notification.get("policy"), catalog.NOTIFICATION_POLICIES)
    if notification["policy"] is None:
        del notification["policy"]
    receivers = notification.get("receivers")
    out = []
    for i, receiver in enumerate(receivers if isinstance(receivers, list) else []):
        if not isinstance(receiver, dict):
            continue
        kind = receiver["type"] = _canonical(receiver.get("type"), catalog.RECEIVER_TYPES)
        addresses = receiver.get("addresses")
        for j, address in enumerate(addresses if isinstance(addresses, list) else []):
            if not isinstance(address, str) or len(address) > schemas.ADDRESS_MAX:
                continue  # the schema says what is wrong
            where = f"notification.receivers[{i}].addresses[{j}]"
            if kind in ("webhook", "slack"):
                if address != MASK and not HTTP_URL_RE.fullmatch(address):
                    # Not echoed: the URL is a credential (a Slack incoming webhook).
                    out.append((where, "is not an http(s) URL"))
            elif kind == "email" and not EMAIL_RE.fullmatch(address):
                out.append((where, f"{address!r} is not a mail address"))
    return out


def pipeline_spec(body: object) -> Pipeline:
    doc = _require_object(body, "pipeline")
    _drop(doc, _PIPELINE_READ_ONLY)
    problems = _name_checks(doc)
    stages = _obj(doc.get("build")).get("stages")
    if isinstance(stages, dict):
        checkout = stages.get("codeCheckout")
        if isinstance(checkout, dict):
            _normalise_checkout(checkout, problems)
            problems += _source_checks(checkout)
        release = stages.get("imageRelease")
        if isinstance(release, dict) and "releasePolicy" in release:
            release.setdefault("releasePolicies", release.pop("releasePolicy"))
        test = stages.get("integrationTest")
        if isinstance(test, dict) and "Config" in test:
            test.setdefault("config", test.pop("Config"))
    scm_trigger = _obj(_obj(doc.get("autoTrigger")).get("scmTrigger"))
    scm_trigger.pop("webhook", None)  # the hook the server registered (domain/webhooks.py)
    post_commit = scm_trigger.get("postCommit")
    if isinstance(post_commit, dict):
        post_commit.pop("repoInfo", None)  # set by the server from the repository itself
        problems += _hook_secret_checks(scm_trigger.get("webhookSecret"))
    problems += _cron_checks(doc)
    problems += _notification_checks(doc)
    _check("pipeline", doc, problems)
    return cast(Pipeline, doc)  # the schema checked its shape


# --- integrations ---------------------------------------------------------------------------


def integration_spec(body: object) -> Integration:
    doc = _require_object(body, "integration")
    _drop(doc, schemas.READ_ONLY)
    doc["type"] = _canonical(doc.get("type"), schemas.INTEGRATION_TYPES)
    _check("integration", doc, _name_checks(doc))
    return cast(Integration, doc)  # the schema checked its shape


def record_spec(body: object) -> PerformParams:
    """performParams of a run: `ref` required; a name, when given, follows the name rules."""
    doc = _require_object(body, "record")
    extra = []
    name = doc.get("name")
    if isinstance(name, str) and name:
        problem = name_problem(name)
        if problem:
            extra.append(("name", problem))
    _check("record", doc, extra)
    return cast(PerformParams, doc)  # the schema checked its shape


def status_spec(body: object) -> str:
    """Only `{"status": "Aborted"}` changes a record's status through the API."""
    doc = _require_object(body, "status")
    _check("status", doc)
    return str(doc["status"])


def cloud_spec(body: object) -> Cloud:
    """A cloud: its type's section is required, the other type's is not allowed."""
    doc = _require_object(body, "cloud")
    _drop(doc, schemas.READ_ONLY)
    doc["type"] = _canonical(doc.get("type"), schemas.CLOUD_TYPES)
    extra = _name_checks(doc)
    kind = doc.get("type")
    section = (
        {"Docker": "docker", "Kubernetes": "kubernetes"}.get(kind)
        if isinstance(kind, str)
        else None
    )
    for other in ("docker", "kubernetes"):
        if other in doc and other != section:
            extra.append((other, f"not allowed for a cloud of type {kind}"))
    if section and not isinstance(doc.get(section), dict):
        extra.append((section, f"is required for a cloud of type {kind}"))
    k8s = doc.get("kubernetes")
    if kind == "Kubernetes" and isinstance(k8s, dict):
        if not k8s.get("inCluster") and not k8s.get("host"):
            extra.append(("kubernetes.host", "is required unless inCluster is true"))
        if not k8s.get("namespace"):
            extra.append(("kubernetes.namespace", "is required (the namespace workers run in)"))
    _check("cloud", doc, extra)
    return cast(Cloud, doc)  # the schema checked its shape


def cloud_credentials(doc: Cloud, stored: Cloud | None) -> None:
    """A Kubernetes cloud outside the cluster needs a bearer token or a username and password;
    checked after stored secrets were kept."""
    if stored is not None and stored.get("type") != doc.get("type"):
        raise ValidationFailed(f"type cannot be changed (stored {stored.get('type')!r})")
    k8s = doc.get("kubernetes") or {}
    if doc.get("type") != "Kubernetes" or k8s.get("inCluster"):
        return
    if not (k8s.get("bearerToken") or (k8s.get("username") and k8s.get("password"))):
        raise ValidationFailed(
            "invalid cloud: kubernetes: a bearerToken, or a username and password, is required",
            [{"field": "kubernetes", "error": "bearerToken or username and password required"}],
        )


def project_credentials(doc: Project, stored: Project | None) -> None:
    """The spec asks for one kind of SCM auth; checked after stored secrets were kept."""
    scm = doc.get("scm") or {}
    if not (scm.get("token") or scm.get("password")):
        raise ValidationFailed(
            "invalid project: scm: credentials are required: a token, or a username and password",
            [{"field": "scm", "error": "a token, or a username and password, is required"}],
        )


def integration_token(doc: Integration, stored: Integration | None) -> None:
    if stored is not None and doc.get("type") != stored.get("type"):
        raise ValidationFailed(f"type cannot be changed (stored {stored.get('type')!r})")
    if not (doc.get("sonarqube") or {}).get("token"):
        raise ValidationFailed(
            "invalid integration: sonarqube.token: is required",
            [{"field": "sonarqube.token", "error": "is required"}],
        )
