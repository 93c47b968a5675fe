"""codeCheckout: the main repository into ./code, dependent repositories into code/<folder>.

Git sources are cloned in full, then the ref is resolved locally, so any ref shape works
without knowing the remote's branches in advance (no `master` is assumed). A plain name (a
branch, else a tag, the usual ref) is resolved by the clone itself (`--branch`): two git
processes per checkout instead of five. SVN sources are checked out at a revision or a path
under the repository URL.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from services.worker import domain
from services.worker.domain import RefKind
from services.worker.stages import Context, StageFailed, process
from shared import timefmt
from shared.contracts.catalog import CodeSource
from shared.contracts.records import Commit, Commits, StageDetails


def run(ctx: Context) -> StageDetails:
    """Check out every source; returns the stage details `{"commits": {...}}`."""
    checkout = domain.stages_of(ctx.pipeline).get("codeCheckout", {})
    main = checkout.get("mainRepo")
    if not isinstance(main, dict):
        raise StageFailed("the pipeline has no codeCheckout.mainRepo")
    if ctx.code_dir.exists() and any(ctx.code_dir.iterdir()):
        raise StageFailed(f"the workspace already holds a non-empty {ctx.code_dir.name} directory")
    pin = ctx.job.get("pin", {})  # a rerun: the commits the record it reruns checked out
    commits = Commits(
        mainRepo=_checkout(
            ctx,
            main,
            ctx.code_dir,
            ctx.params.get("ref") or "",
            pin.get("mainRepo") or "",
        )
    )
    deps: list[Commit] = []
    dep_pins = [p or "" for p in pin.get("depRepos", [])]
    for dep in checkout.get("depRepos", []):
        folder = dep.get("folder") or ""
        problem = domain.folder_problem(folder)
        if problem:
            raise StageFailed(f"dependent repository: {problem}")
        dep_pin = dep_pins[len(deps)] if len(deps) < len(dep_pins) else ""
        deps.append(_checkout(ctx, dep, ctx.code_dir / folder, "", dep_pin))
    if deps:
        commits["depRepos"] = deps
    return {"commits": commits}


def _checkout(ctx: Context, repo: CodeSource, dest: Path, ref: str, pin: str = "") -> Commit:
    """One source at `ref`; at commit (git) or revision (svn) `pin` when it is given."""
    kind = domain.source_type(repo)
    block = domain.source_block(repo)
    url = block.get("url") or ""
    if kind not in ("github", "gitlab", "svn", "other"):
        raise StageFailed(f'unknown code source type "{repo.get("type")}"')
    if not url:
        raise StageFailed(f"the {repo.get('type')} code source has no url")
    ref = ref or block.get("ref") or ""
    if pin:
        ctx.log(f"pinned to {pin}: the {'revision' if kind == 'svn' else 'commit'} rerun")
    if kind == "svn":
        return _svn(ctx, url, ref, domain.svn_credentials(ctx.scm, block), dest, pin)
    return _git(ctx, url, pin or ref, domain.git_credentials(kind, ctx.scm, block), dest)


# --- git --------------------------------------------------------------------------------------

# git's words when `clone --branch` names neither a branch nor a tag of the remote
NO_SUCH_BRANCH = "not found in upstream"
NO_TEMPLATE = "--template="


def _git(ctx: Context, url: str, ref: str, creds: tuple[str, str] | None, dest: Path) -> Commit:
    target = domain.classify_ref(ref)
    if target.kind is not RefKind.DEFAULT and (problem := domain.ref_problem(ref.strip())):
        raise StageFailed(problem)
    env = {**ctx.env, "GIT_TERMINAL_PROMPT": "0", **domain.git_credential_env(creds)}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    shown = domain.display_url(url)
    where = dest.relative_to(ctx.workspace).as_posix()
    # A plain name, a branch else a tag, is what `clone --branch` resolves itself: one git
    # process instead of a clone, up to two lookups and a checkout (the common case of a run).
    named = target.kind is RefKind.NAME
    # No template: git's sample hooks and the like are 15 of a small clone's 25 files, to
    # write and, once the record ends, to delete (bench: 19.2 -> 16.6 ms of git's CPU a clone,
    # 1.2 -> 0.9 ms to delete it). A clone never runs hooks of its own anyway.
    opts = [NO_TEMPLATE]
    if named:
        opts += ["--branch", target.name]
    elif target.kind is not RefKind.DEFAULT:
        opts.append("--no-checkout")
    out = ctx.execute(
        ["git", "clone", *opts, "--", url, where],
        cwd=ctx.workspace,
        echo=" ".join(["git", "clone", *opts, shown, where]),
        env=env,
    )
    if not out.ok:
        if named and any(NO_SUCH_BRANCH in line for line in out.tail):
            raise StageFailed(f'ref "{ref.strip()}" not found in {shown}')
        raise StageFailed(f"git clone of {shown} failed (exit code {out.code}): {_reason(out)}")
    if not named:
        _switch(ctx, dest, target, ref.strip(), shown, env)
    commit = _git_commit(dest, env)
    if commit is None:
        raise StageFailed(f"{shown} has no commits")
    subject = (commit["Message"].splitlines() or [""])[0]
    ctx.log(f"Checked out {commit['ID']} ({commit['Author']}: {subject})")
    return commit


def _switch(
    ctx: Context, dest: Path, target: domain.GitRef, ref: str, shown: str, env: dict[str, str]
) -> None:
    """Make the clone's working tree the commit `target` names."""

    def has(name: str) -> bool:
        probe = ["git", "rev-parse", "--verify", "-q", f"{name}^{{commit}}"]
        return _query(probe, dest, env, check=False) is not None

    def git(*args: str) -> process.Outcome:
        return ctx.execute(
            ["git", "-c", "advice.detachedHead=false", *args],
            cwd=dest,
            echo=" ".join(["git", *args]),
            env=env,
        )

    def checkout(*args: str) -> None:
        out = git("checkout", "-q", *args)
        if not out.ok:
            raise StageFailed(f'git checkout of "{ref}" failed (exit code {out.code})')

    not_found = StageFailed(f'ref "{ref}" not found in {shown}')
    name, kind = target.name, target.kind
    if kind is RefKind.DEFAULT:
        if has("HEAD"):
            return
        # The remote's HEAD names a branch it does not have (a bare repo made with HEAD on
        # master and only main pushed): use its only branch, else ask for a ref.
        listing = _query(
            ["git", "for-each-ref", "--format=%(refname:strip=3)", "refs/remotes/origin"],
            dest,
            env,
        )
        branches = [b for b in (listing or "").split() if b != "HEAD"]
        if not branches:
            raise StageFailed(f"{shown} has no commits")
        if len(branches) > 1:
            raise StageFailed(
                f"{shown} has no default branch (its HEAD names a missing branch); "
                f"give a ref, one of: {', '.join(branches)}"
            )
        return checkout("-B", branches[0], f"refs/remotes/origin/{branches[0]}")
    if kind is RefKind.REF:
        if not git("fetch", "origin", name).ok:
            raise not_found
        return checkout("--detach", "FETCH_HEAD")
    if kind is RefKind.COMMIT and has(name):
        return checkout("--detach", name)
    may_be_branch = kind in (RefKind.BRANCH, RefKind.NAME, RefKind.COMMIT)
    if may_be_branch and has(f"refs/remotes/origin/{name}"):
        return checkout("-B", name, f"refs/remotes/origin/{name}")
    if kind is RefKind.TAG and not has(f"refs/tags/{name}"):
        # clone fetches only the tags on fetched history; this one may be elsewhere
        git("fetch", "origin", f"refs/tags/{name}:refs/tags/{name}")
    may_be_tag = kind in (RefKind.TAG, RefKind.NAME, RefKind.COMMIT)
    if may_be_tag and has(f"refs/tags/{name}"):
        return checkout("--detach", f"refs/tags/{name}")
    if kind is RefKind.COMMIT and git("fetch", "origin", name).ok:
        return checkout("--detach", "FETCH_HEAD")  # a full sha no branch or tag reaches
    raise not_found


def _git_commit(dest: Path, env: dict[str, str]) -> Commit | None:
    """HEAD's commit; None when there is none (an empty repository)."""
    fmt = "--format=%H%x1f%an%x1f%aI%x1f%B"
    raw = _query(["git", "log", "-1", fmt], dest, env, check=False)
    if raw is None:
        return None
    sha, author, date, message = [*raw.split("\x1f", 3), "", "", ""][:4]
    return Commit(
        ID=sha.strip(), Author=author, Date=_rfc3339(date.strip()), Message=message.strip()
    )


# --- svn --------------------------------------------------------------------------------------


def _svn(
    ctx: Context, url: str, ref: str, creds: tuple[str, str] | None, dest: Path, pin: str = ""
) -> Commit:
    target, rev = domain.svn_target(url, ref)
    if pin.isdigit():  # the path as it was at that revision (a peg), even if moved since
        target, rev = f"{target}@{pin}", pin
    auth: list[str] = []
    shown_auth: list[str] = []
    if creds:
        auth = ["--username", creds[0], "--password-from-stdin", "--no-auth-cache"]
        shown_auth = auth
    revs = ["-r", rev] if rev else []
    where = dest.relative_to(ctx.workspace).as_posix()
    shown = domain.display_url(target)
    out = ctx.execute(
        ["svn", "checkout", "--non-interactive", *auth, *revs, "--", target, where],
        cwd=ctx.workspace,
        echo=" ".join(["svn", "checkout", "--non-interactive", *shown_auth, *revs, shown, where]),
        stdin=creds[1] if creds else None,
    )
    if not out.ok:
        at = f' at ref "{ref}"' if ref.strip() else ""
        raise StageFailed(
            f"svn checkout of {shown}{at} failed (exit code {out.code}): {_reason(out)}"
        )

    def item(name: str) -> str:
        info = _query(["svn", "info", "--show-item", name, str(dest)], dest, ctx.env)
        return (info or "").strip()

    revision = item("last-changed-revision")
    xml = _query(
        ["svn", "log", "-r", revision, "--xml", "--non-interactive", *auth, str(dest)],
        dest,
        ctx.env,
        check=False,
    )
    return Commit(
        ID=revision,
        Author=item("last-changed-author"),
        Date=_rfc3339(item("last-changed-date")),
        Message=_svn_message(xml or ""),
    )


def _svn_message(xml: str) -> str:
    try:
        entry = ET.fromstring(xml).find("logentry")
    except ET.ParseError:
        return ""
    msg = entry.find("msg") if entry is not None else None
    return (msg.text or "").strip() if msg is not None else ""


# --- helpers ----------------------------------------------------------------------------------


def _query(argv: list[str], cwd: Path, env: Mapping[str, str], check: bool = True) -> str | None:
    """Output of a quick local query; None when it fails and `check` is off."""
    try:
        return process.capture(argv, cwd=cwd, env=env)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        if check:
            raise StageFailed(f"{' '.join(argv[:3])} failed: {exc}") from exc
        return None


def _reason(out: process.Outcome) -> str:
    """The tool's own error line (`fatal: ...`, `svn: E...`), else its last output line."""
    for line in out.tail:
        if line.startswith(("fatal:", "error:", "svn: E")):
            return line
    return out.tail[-1] if out.tail else "no output"


def _rfc3339(value: str) -> str:
    try:
        return timefmt.rfc3339(datetime.fromisoformat(value)) or value
    except ValueError:
        return value
