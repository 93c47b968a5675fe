"""Pure rules of a run: stage order, names, secrets, refs, paths. No I/O, no bus, no processes.

Everything here is decided from the job and plain strings, so it is unit-tested in
milliseconds and the adapters (checkout, commands, publisher) stay thin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shared.contracts import logs
from shared.contracts.logs import STAGE_DESC

SUCCESS = "Success"
FAILED = "Failed"
ABORTED = "Aborted"

CHECKOUT = "codeCheckout"
COMMAND_STAGES = ("unitTest", "package")
STAGE_ORDER: tuple[str, ...] = tuple(STAGE_DESC)  # the contract lists stages in run order

MASK = "******"
MIN_SECRET_LENGTH = 4  # shorter values would mask half of every log

EXIT_CODES = {SUCCESS: 0, FAILED: 1, ABORTED: 3}
EXIT_USAGE = 2
EXIT_NO_JOB = 4


def exit_code(status: str) -> int:
    return EXIT_CODES.get(status, 1)


# --- stages -----------------------------------------------------------------------------------


def run_order(stages: Sequence[str]) -> list[str]:
    """The job's stages as the scheduler ordered them, without repeats, codeCheckout first.

    The scheduler already computes the order; this only guards against a malformed job.
    """
    seen: list[str] = []
    for stage in stages:
        if stage not in seen:
            seen.append(stage)
    if CHECKOUT in seen:
        seen.remove(CHECKOUT)
    return [CHECKOUT, *seen]


def unavailable_reason(stage: str) -> str | None:
    """Why a stage cannot run on this (Local) cloud, or None when the worker can run it."""
    if stage == "codeScan":
        return f"stage {stage} needs a SonarQube scanner, and none is configured for this cloud"
    if stage in ("imageBuild", "integrationTest", "imageRelease"):
        return f"stage {stage} needs a Docker engine, and none is configured for this cloud"
    if stage not in STAGE_ORDER:
        return f"unknown stage {stage}"
    return None


def stage_config(pipeline: Mapping[str, Any], stage: str) -> dict[str, Any]:
    stages = (pipeline.get("build") or {}).get("stages") or {}
    cfg = stages.get(stage)
    return cfg if isinstance(cfg, dict) else {}


def env_vars(pipeline: Mapping[str, Any]) -> dict[str, str]:
    """builderImage.envVars as a mapping (later entries win, nameless ones are ignored)."""
    image = (pipeline.get("build") or {}).get("builderImage") or {}
    found: dict[str, str] = {}
    for var in image.get("envVars") or []:
        if isinstance(var, dict) and var.get("name"):
            value = var.get("value")
            found[str(var["name"])] = "" if value is None else str(value)
    return found


def commands_of(cfg: Mapping[str, Any]) -> list[str]:
    raw = cfg.get("command") or []
    return [raw] if isinstance(raw, str) else [str(c) for c in raw]


# The framing lines are the contract's (shared/contracts/logs.py).
frame_start = logs.start_line
frame_finish = logs.finish_line
frame_fail = logs.fail_line


def echo(command: str) -> list[str]:
    """`$ <command>` log lines; a multi-line command continues with `> ` lines."""
    parts = command.split("\n") or [""]
    return [("$ " if i == 0 else "> ") + part.rstrip("\r") for i, part in enumerate(parts)]


@dataclass(frozen=True)
class Failure:
    stage: str
    message: str


def run_error(stopped_by: Failure | None, allowed: Sequence[Failure]) -> str:
    """RUN_FINISHED.error: the failure that stopped the run, then failures that were allowed."""
    tolerated = "; ".join(f"{f.stage} failed (allowFailure): {f.message}" for f in allowed)
    if stopped_by is None:
        return tolerated
    return f"{stopped_by.message}; {tolerated}" if tolerated else stopped_by.message


def record_name(commit_id: str, now: datetime) -> str:
    """`{first 7 of the commit}-{yyMMddHHmmss UTC}`: the name of a run that was given none."""
    stamp = now.astimezone(UTC).strftime("%y%m%d%H%M%S")
    return f"{commit_id[:7].lower()}-{stamp}"


# --- secrets ----------------------------------------------------------------------------------

_SOURCE_BLOCKS = ("github", "gitlab", "svn", "otherCodeSource")


def _env_secrets(env: Any) -> Iterator[Any]:
    for var in env if isinstance(env, list) else []:
        if isinstance(var, dict) and var.get("secret"):
            yield var.get("value")


def job_secrets(job: Mapping[str, Any]) -> list[str]:
    """Every secret value the job carries in clear text (it comes decrypted)."""
    project = job.get("project") or {}
    pipeline = job.get("pipeline") or {}
    scm = project.get("scm") or {}
    found: list[Any] = [scm.get("token"), scm.get("password")]
    found.append((project.get("registry") or {}).get("password"))
    build = pipeline.get("build") or {}
    checkout = (build.get("stages") or {}).get(CHECKOUT) or {}
    for repo in [checkout.get("mainRepo"), *(checkout.get("depRepos") or [])]:
        if isinstance(repo, dict):
            found += [(repo.get(b) or {}).get("password") for b in _SOURCE_BLOCKS]
    found += _env_secrets((build.get("builderImage") or {}).get("envVars"))
    integration = (build.get("stages") or {}).get("integrationTest") or {}
    found += _env_secrets((integration.get("config") or {}).get("envVars"))
    for service in integration.get("services") or []:
        if isinstance(service, dict):
            found += _env_secrets(service.get("envVars"))
    return [s for s in found if isinstance(s, str) and s]


class Masker:
    """Replaces each secret (and its URL-quoted form, as it appears in URLs) with `******`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                variants |= {secret, quote(secret, safe="")}
        ordered = sorted(variants, key=len, reverse=True)  # longest first: no partial leaks
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text


# --- code sources -----------------------------------------------------------------------------

_BLOCK_OF_TYPE = {"github": "github", "gitlab": "gitlab", "svn": "svn", "other": "otherCodeSource"}


def source_type(repo: Mapping[str, Any]) -> str:
    """`github`, `gitlab`, `svn` or `other` (the stored type is matched case-insensitively)."""
    raw = str(repo.get("type") or "").lower()
    return "other" if raw == "othercodesource" else raw


def source_block(repo: Mapping[str, Any]) -> dict[str, Any]:
    block = repo.get(_BLOCK_OF_TYPE.get(source_type(repo), ""))
    return block if isinstance(block, dict) else {}


class RefKind(StrEnum):
    DEFAULT = "default"  # the remote's default branch
    BRANCH = "branch"  # refs/heads/x
    TAG = "tag"  # refs/tags/x
    COMMIT = "commit"  # 7-40 hex digits (could also be a branch or tag name)
    REF = "ref"  # any other refs/..., fetched as is (refs/pull/1/merge)
    NAME = "name"  # a plain name: a branch, else a tag


@dataclass(frozen=True)
class GitRef:
    kind: RefKind
    name: str  # the branch or tag name, the sha, or the full ref


_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def ref_problem(ref: str) -> str | None:
    """Why a git ref is unusable (also keeps refs from being read as command-line options)."""
    if ref.startswith("-") or ref.endswith(("/", ".", ".lock")) or _BAD_REF.search(ref):
        return f'invalid ref "{ref}"'
    return None


def classify_ref(ref: str) -> GitRef:
    ref = ref.strip()
    if not ref or ref == "HEAD":
        return GitRef(RefKind.DEFAULT, "")
    if ref.startswith("refs/heads/"):
        return GitRef(RefKind.BRANCH, ref.removeprefix("refs/heads/"))
    if ref.startswith("refs/tags/"):
        return GitRef(RefKind.TAG, ref.removeprefix("refs/tags/"))
    if ref.startswith("refs/"):
        return GitRef(RefKind.REF, ref)
    if _HEX.fullmatch(ref):
        return GitRef(RefKind.COMMIT, ref.lower())
    return GitRef(RefKind.NAME, ref)


def svn_target(url: str, ref: str) -> tuple[str, str | None]:
    """(URL to check out, revision or None for HEAD) for an SVN ref.

    "" or HEAD is the head revision, `123` or `r123` a revision, anything else a path under
    the repository URL (`branches/x`, `tags/v1`).
    """
    ref, url = ref.strip(), url.rstrip("/")
    if not ref or ref.upper() == "HEAD":
        return url, None
    rev = re.fullmatch(r"[rR]?(\d+)", ref)
    if rev:
        return url, rev.group(1)
    return f"{url}/{ref.strip('/')}", None


def git_credentials(
    kind: str, scm: Mapping[str, Any], block: Mapping[str, Any]
) -> tuple[str, str] | None:
    """User and password for a git URL: the project's SCM token or account for GitHub/GitLab
    sources, the source's own username/password for other ones."""
    if kind in ("github", "gitlab"):
        scm_kind = str(scm.get("type") or "").lower()
        if scm_kind and scm_kind != kind:
            return None
        if scm.get("token"):
            return ("x-access-token" if kind == "github" else "oauth2", str(scm["token"]))
        if scm.get("username") and scm.get("password"):
            return (str(scm["username"]), str(scm["password"]))
        return None
    if block.get("username") or block.get("password"):
        return (str(block.get("username") or ""), str(block.get("password") or ""))
    return None


def svn_credentials(scm: Mapping[str, Any], block: Mapping[str, Any]) -> tuple[str, str] | None:
    """The svn block's account, else the project's when its SCM is SVN."""
    if block.get("username"):
        return (str(block["username"]), str(block.get("password") or ""))
    if str(scm.get("type") or "").lower() == "svn" and scm.get("username"):
        return (str(scm["username"]), str(scm.get("password") or ""))
    return None


def with_credentials(url: str, creds: tuple[str, str] | None) -> str:
    """The URL with `user:password@` for http(s); other URLs (file, ssh, paths) are unchanged."""
    parts = urlsplit(url)
    if creds is None or parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return url
    user, password = (quote(c, safe="") for c in creds)
    auth = f"{user}:{password}" if password else user
    return urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))


def display_url(url: str) -> str:
    """The URL fit for a log: a password written into it is replaced by `******`."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        auth, host = parts.netloc.rsplit("@", 1)
        if ":" in auth:
            auth = f"{auth.split(':', 1)[0]}:{MASK}"
        return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))
    return url


# --- paths ------------------------------------------------------------------------------------


def relative_path_problem(path: str, what: str) -> str | None:
    """Why a path from the pipeline may not be used under the code directory, or None."""
    if not path.strip():
        return f"{what} is empty"
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", path):
        return f'{what} "{path}" must be relative to the code directory'
    if ".." in PurePosixPath(path.replace("\\", "/")).parts:
        return f'{what} "{path}" must stay inside the code directory'
    return None


def output_problem(pattern: str) -> str | None:
    return relative_path_problem(pattern, "output")


def folder_problem(folder: str) -> str | None:
    problem = relative_path_problem(folder, "folder")
    if problem is None and PurePosixPath(folder).parts in ((), (".",)):
        return f'folder "{folder}" must name a sub folder of the code directory'
    return problem
