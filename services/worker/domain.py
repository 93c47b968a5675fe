"""Pure rules of a run: stage order, names, secrets, refs, paths. No I/O, no bus, no processes.

Everything here is decided from the job and plain strings, so it is unit-tested in
milliseconds and the adapters (checkout, commands, publisher) stay thin.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import cast
from urllib.parse import quote, urlsplit, urlunsplit

from shared.contracts import logs
from shared.contracts.catalog import (
    CodeSource,
    EnvVar,
    Pipeline,
    PipelineStages,
    RepoSource,
    ScmSection,
    ScriptStage,
    Sonarqube,
)
from shared.contracts.logs import STAGE_DESC
from shared.contracts.records import RecordStatus
from shared.contracts.rpc import Job

CHECKOUT = "codeCheckout"
IMAGE_STAGES = ("codeScan", "imageBuild", "integrationTest", "imageRelease")  # need an engine
STAGE_ORDER: tuple[str, ...] = tuple(STAGE_DESC)  # the contract lists stages in run order

MASK = "******"
MIN_SECRET_LENGTH = 4  # shorter values would mask half of every log

EXIT_CODES: dict[str, int] = {
    RecordStatus.SUCCESS: 0,
    RecordStatus.FAILED: 1,
    RecordStatus.ABORTED: 3,
}
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


def unavailable_reason(stage: str, has_engine: bool = False) -> str | None:
    """Why a stage cannot run here, or None when the worker can run it."""
    if stage in IMAGE_STAGES and not has_engine:
        return f"stage {stage} needs a Docker engine, and none is configured for this cloud"
    if stage not in STAGE_ORDER:
        return f"unknown stage {stage}"
    return None


def stages_of(pipeline: Pipeline) -> PipelineStages:
    """The pipeline's `build.stages` ({} when it has none)."""
    return pipeline.get("build", {}).get("stages", {})


def stage_config(pipeline: Pipeline, stage: str) -> ScriptStage:
    """The section of a stage named at run time ({} when absent), read as the command
    stages' shape: every stage's section but codeCheckout's has `allowFailure`, and the
    command stages (unitTest, codeScan, package) are ScriptStages; a stage that knows its
    name reads `stages_of` instead."""
    cfg = dict(stages_of(pipeline)).get(stage)
    return cast(ScriptStage, cfg) if isinstance(cfg, dict) else {}


def env_vars(pipeline: Pipeline) -> dict[str, str]:
    """builderImage.envVars as a mapping (later entries win, nameless ones are ignored)."""
    image = pipeline.get("build", {}).get("builderImage", {})
    found: dict[str, str] = {}
    for var in image.get("envVars", []):
        name = var.get("name")
        if name:
            value = var.get("value")
            found[name] = "" if value is None else str(value)
    return found


# The build variables every stage's commands get (docs/api.md, "The build environment").
BUILD_VARIABLES = (
    "CI",
    "CYCLONE_RECORD_ID",
    "CYCLONE_RECORD_NAME",
    "CYCLONE_PROJECT",
    "CYCLONE_PIPELINE",
    "CYCLONE_STAGE",
    "CYCLONE_REF",
    "CYCLONE_COMMIT_SHA",
    "CYCLONE_WORKSPACE",
)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def build_env(
    job: Job, *, stage: str, record_name: str, commit: str, code_dir: str
) -> dict[str, str]:
    """The environment a build's commands get, made rather than inherited: the pipeline's
    envVars, then the build variables (which win: they are facts of the run). PATH and HOME
    come from where the commands run (the host's PATH and a home in the workspace; a
    container's own). Nothing of the worker's or the services' environment is in it."""
    variables = {
        "CI": "true",
        "CYCLONE_RECORD_ID": job["record_id"],
        "CYCLONE_RECORD_NAME": record_name,
        "CYCLONE_PROJECT": job["project"].get("name", ""),
        "CYCLONE_PIPELINE": job["pipeline"].get("name", ""),
        "CYCLONE_STAGE": stage,
        "CYCLONE_REF": job["params"].get("ref", ""),
        "CYCLONE_COMMIT_SHA": commit,
        "CYCLONE_WORKSPACE": code_dir,
    }
    return {**env_vars(job["pipeline"]), **variables}


def host_env(build: Mapping[str, str], *, path: str, home: str) -> dict[str, str]:
    """A build environment for commands run on the worker's host: PATH and HOME first (the
    pipeline's envVars may set either), then the build's own variables."""
    return {"PATH": path or DEFAULT_PATH, "HOME": home, **build}


def commands_of(cfg: Mapping[str, object]) -> list[str]:
    """A stage's (or an integration test's) `command` lines."""
    raw = cfg.get("command") or []
    if isinstance(raw, str):
        return [raw]
    return [str(c) for c in raw] if isinstance(raw, list) else []


# The framing lines are the contract's (shared/contracts/logs.py).
frame_start = logs.start_line
frame_finish = logs.finish_line
frame_fail = logs.fail_line
frame_skip = logs.skip_line


# --- untrusted runs (a fork's pull request) ---------------------------------------------------

# Where scheduler.get_job's `withheld` names the SonarQube integration's token.
SONAR_TOKEN = "pipeline.build.stages.codeScan.sonarqube.integration.sonarqube.token"
OPT_IN = "autoTrigger.scmTrigger.forkSecrets"


def skip_reason(stage: str, job: Job) -> str | None:
    """Why an untrusted run skips `stage` rather than run it without the secret it needs;
    None for every stage of a trusted run.

    imageRelease always (pushing to the project's registry is write access, with or without
    a password); codeScan when its SonarQube integration has a token (withheld). Other
    stages run: without secrets, which a fork's code never sees.
    """
    why = job.get("untrusted")
    if not why:
        return None
    if stage == "imageRelease":
        return (
            f"untrusted run ({why}): images are not pushed to the project's registry "
            f"(the pipeline may opt in with {OPT_IN})"
        )
    if stage == "codeScan" and SONAR_TOKEN in job.get("withheld", []):
        return (
            f"untrusted run ({why}): the SonarQube integration's token is withheld "
            f"(the pipeline may opt in with {OPT_IN})"
        )
    return None


def untrusted_notice(job: Job) -> list[str]:
    """Log lines that open an untrusted run's log: why, and what it goes without."""
    why = job.get("untrusted")
    if not why:
        return []
    withheld = job.get("withheld", [])
    return [
        f"Untrusted run: {why}. It gets no secrets: the checkout is anonymous and stages that "
        "need a secret are skipped.",
        "Secrets withheld: " + (", ".join(withheld) if withheld else "none were set"),
    ]


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


def _env_secrets(env: list[EnvVar]) -> Iterator[str | None]:
    for var in env:
        if var.get("secret"):
            yield var.get("value")


def _source_passwords(repo: CodeSource) -> list[str | None]:
    blocks = (repo.get("github"), repo.get("gitlab"), repo.get("svn"), repo.get("otherCodeSource"))
    return [block.get("password") for block in blocks if block is not None]


def sonarqube_of(pipeline: Pipeline) -> Sonarqube:
    """The job's codeScan.sonarqube with its embedded integration ({} when absent)."""
    return stages_of(pipeline).get("codeScan", {}).get("sonarqube", {})


def job_secrets(job: Job) -> list[str]:
    """Every secret value the job carries in clear text (it comes decrypted)."""
    project, pipeline = job["project"], job["pipeline"]
    scm = project.get("scm", {})
    found: list[str | None] = [scm.get("token"), scm.get("password")]
    found.append(project.get("registry", {}).get("password"))
    build = pipeline.get("build", {})
    stages = build.get("stages", {})
    checkout = stages.get("codeCheckout", {})
    main = checkout.get("mainRepo")
    for repo in [*([main] if main is not None else []), *checkout.get("depRepos", [])]:
        found += _source_passwords(repo)
    found += _env_secrets(build.get("builderImage", {}).get("envVars", []))
    integration = sonarqube_of(pipeline).get("integration") or {}
    found.append(integration.get("sonarqube", {}).get("token"))
    tests = stages.get("integrationTest", {})
    found += _env_secrets(tests.get("config", {}).get("envVars", []))
    for service in tests.get("services", []):
        found += _env_secrets(service.get("envVars", []))
    return [s for s in found if isinstance(s, str) and s]


class SecretMasker:
    """Masks secrets in log lines given one at a time, secrets printed over several lines too.

    Every character that belongs to an occurrence of a secret (or of its URL-quoted form, as it
    appears in URLs) is masked; each run of such characters within a line becomes one `******`.
    Lines are matched as if joined without their line breaks, so `xxabc` + `defyy` for the secret
    `abcdef` become `xx******` + `******yy` (a trailing `\r`, as in CRLF output, is kept but not
    matched; a secret with line breaks in it is matched as printed over several lines).

    `push(line)` returns the lines that are final, masked, in order. A line is held back only
    while the text so far ends with a proper prefix of a secret (it may continue on the next
    line) and is released as soon as that is impossible; `flush()` releases what is held. The
    lines come out one for one: none merged, dropped or reordered. After `flush()` the text so
    far still counts, so the rest of a secret that continues after a flush is masked.

    Cost per line: a regex search and a suffix check; only the held tail is searched again.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            printed = secret.replace("\r\n", "").replace("\n", "")  # as over several lines
            for form in (secret, printed, quote(secret, safe=""), quote(printed, safe="")):
                if len(form) >= MIN_SECRET_LENGTH and "\n" not in form:
                    variants.add(form)
        self._variants = tuple(sorted(variants, key=len, reverse=True))
        self._pattern = re.compile("|".join(map(re.escape, self._variants))) if variants else None
        by_last: dict[str, set[str]] = {}  # proper prefixes of the variants, by their last char
        for form in self._variants:
            for end in range(1, len(form)):
                by_last.setdefault(form[end - 1], set()).add(form[:end])
        self._prefixes = {c: tuple(sorted(p, key=len, reverse=True)) for c, p in by_last.items()}
        self._reset()

    def _reset(self) -> None:
        self._pos = 0  # characters of line text seen so far: the positions below count from 0
        self._tail = ""  # the end of the text so far that is a proper prefix of a secret
        self._held: deque[tuple[str, int, int]] = deque()  # (line, start, end), oldest first
        self._spans: list[tuple[int, int]] = []  # secret occurrences reaching into held lines

    @property
    def held(self) -> int:
        """How many lines are held back."""
        return len(self._held)

    def push(self, line: str) -> list[str]:
        """Take the next line; returns the lines now final (masked), oldest first."""
        if self._pattern is None:
            return [line]
        text = line[:-1] if line.endswith("\r") else line
        start, skip = self._pos, len(self._tail)
        self._pos += len(text)
        if self._tail:
            text = self._tail + text  # a secret may have started on a held line
        if self._pattern.search(text):
            base = start - skip
            for form in self._variants:
                i = text.find(form)
                while i >= 0:
                    if i + len(form) > skip:  # one wholly in the old tail was found before
                        self._spans.append((base + i, base + i + len(form)))
                    i = text.find(form, i + 1)
        self._tail = self._pending(text)
        if not self._held and not self._tail and not self._spans:
            return [line]  # the usual case: nothing to mask, nothing to wait for
        self._held.append((line, start, self._pos))
        keep_from = self._pos - len(self._tail)  # a later match may cover text from here on
        out: list[str] = []
        while self._held and self._held[0][2] <= keep_from:
            out.append(self._masked(*self._held.popleft()))
        self._prune()
        return out

    def flush(self) -> list[str]:
        """Release the held lines, masked as far as known now."""
        out = [self._masked(*held) for held in self._held]
        self._held.clear()
        self._spans.clear()
        return out

    def mask(self, text: str) -> str:
        """`text` (lines separated by newlines) masked on its own, apart from the stream."""
        alone = copy.copy(self)
        alone._reset()
        lines = [masked for line in text.split("\n") for masked in alone.push(line)]
        return "\n".join(lines + alone.flush())

    def _pending(self, text: str) -> str:
        """The longest end of `text` that is a proper prefix of a secret ("" if none)."""
        prefixes = self._prefixes.get(text[-1:])
        if prefixes is None or not text.endswith(prefixes):
            return ""
        return next(p for p in prefixes if text.endswith(p))

    def _masked(self, line: str, start: int, end: int) -> str:
        cuts = sorted(
            (max(s, start) - start, min(e, end) - start)
            for s, e in self._spans
            if s < end and e > start and start < end  # an empty line has nothing to mask
        )
        if not cuts:
            return line
        parts: list[str] = []
        done = 0
        for s, e in cuts:
            if s > done or not parts:  # else it overlaps or touches the run masked before
                parts += [line[done:s], MASK]
            done = max(done, e)
        parts.append(line[done:])  # the rest of the text, and a trailing \r if there was one
        return "".join(parts)

    def _prune(self) -> None:
        first = self._held[0][1] if self._held else self._pos
        if self._spans:
            self._spans = [(s, e) for s, e in self._spans if e > first]


# --- code sources -----------------------------------------------------------------------------


def source_type(repo: CodeSource) -> str:
    """`github`, `gitlab`, `svn` or `other` (the stored type is matched case-insensitively)."""
    raw = (repo.get("type") or "").lower()
    return "other" if raw == "othercodesource" else raw


def source_block(repo: CodeSource) -> RepoSource:
    """The section of the source's type ({} when absent)."""
    kind = source_type(repo)
    if kind == "github":
        return repo.get("github", {})
    if kind == "gitlab":
        return repo.get("gitlab", {})
    if kind == "svn":
        return repo.get("svn", {})
    if kind == "other":
        return repo.get("otherCodeSource", {})
    return {}


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


def on_scm_host(url: str, server: object) -> bool:
    """Whether `url` is on the project's SCM host (any port; `api.` of the same host counts):
    the project's account goes nowhere else, whatever URL a pipeline names."""
    host = urlsplit(url).hostname
    scm_host = urlsplit(str(server or "")).hostname
    if not host or not scm_host:
        return False
    return host == scm_host or scm_host == f"api.{host}"


def git_credentials(kind: str, scm: ScmSection, block: RepoSource) -> tuple[str, str] | None:
    """User and password for a git URL: the project's SCM token or account for GitHub/GitLab
    sources on the project's SCM host, the source's own username/password for other ones."""
    if kind in ("github", "gitlab"):
        scm_kind = str(scm.get("type") or "").lower()
        if scm_kind and scm_kind != kind:
            return None
        if not on_scm_host(str(block.get("url") or ""), scm.get("server")):
            return None
        if scm.get("token"):
            return ("x-access-token" if kind == "github" else "oauth2", str(scm["token"]))
        if scm.get("username") and scm.get("password"):
            return (str(scm["username"]), str(scm["password"]))
        return None
    if block.get("username") or block.get("password"):
        return (str(block.get("username") or ""), str(block.get("password") or ""))
    return None


def svn_credentials(scm: ScmSection, block: RepoSource) -> tuple[str, str] | None:
    """The svn block's account, else the project's when its SCM is SVN."""
    if block.get("username"):
        return (str(block["username"]), str(block.get("password") or ""))
    svn_scm = str(scm.get("type") or "").lower() == "svn"
    if (
        svn_scm
        and scm.get("username")
        and on_scm_host(str(block.get("url") or ""), scm.get("server"))
    ):
        return (str(scm["username"]), str(scm.get("password") or ""))
    return None


# A credential helper given through git's environment config (GIT_CONFIG_COUNT, git >= 2.31):
# the account comes from two environment variables of git's own process, so it is never on
# a command line (ps shows those to every user), in the URL or in .git/config. The empty
# helper first clears any helper of the host's config (a `store` helper would save it).
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    'printf "username=%s\\npassword=%s\\n" "$CYCLONE_GIT_USERNAME" "$CYCLONE_GIT_PASSWORD"; }; f'
)


def git_credential_env(creds: tuple[str, str] | None) -> dict[str, str]:
    """Environment for git commands that answers an http(s) server's credential prompt."""
    if creds is None:
        return {}
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "credential.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": _CREDENTIAL_HELPER,
        "CYCLONE_GIT_USERNAME": creds[0],
        "CYCLONE_GIT_PASSWORD": creds[1],
    }


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
