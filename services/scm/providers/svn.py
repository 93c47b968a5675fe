"""Subversion through the `svn` command line (Debian's subversion package)."""

from __future__ import annotations

import subprocess

from eventlet import tpool

from services.scm.domain import templates
from services.scm.providers.base import (
    STATUS_CONTEXT,
    TIMEOUT,
    PullHead,
    Repo,
    State,
    WebhookEvent,
)
from shared.contracts.errors import (
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    Unreachable,
)
from shared.contracts.rpc import ScmAccount, SvnRepoInfo


def _svn_info(url: str, item: str, username: str, password: str) -> str:
    args = ["svn", "info", "--non-interactive", "--show-item", item]
    if username:
        args += ["--username", username, "--no-auth-cache"]
        if password:
            args += ["--password-from-stdin"]
    args.append(url)
    try:
        done = subprocess.run(
            args,
            input=password if username and password else "",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as exc:
        raise InvalidRequest(f"svn repository {url} did not answer in {TIMEOUT}s") from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise InvalidRequest(f"cannot read svn repository {url}: {why}")
    return done.stdout.strip()


def repo_info(url: str, username: str, password: str) -> SvnRepoInfo:
    """The UUID and root URL of the repository holding `url` (credentials never in argv)."""

    def both() -> SvnRepoInfo:
        return {
            "id": _svn_info(url, "repos-uuid", username, password),
            "rootURL": _svn_info(url, "repos-root-url", username, password),
        }

    return tpool.execute(both)  # a blocking child process; keep the service's hub free


def _svn(args: list[str], username: str, password: str, what: str) -> str:
    """Run `svn <args>` with credentials on stdin; svn's own complaint as InvalidRequest."""
    argv = ["svn", *args, "--non-interactive"]
    if username:
        argv += ["--username", username, "--no-auth-cache"]
        if password:
            argv += ["--password-from-stdin"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            input=password if username and password else "",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        )

    try:
        done = tpool.execute(run)
    except subprocess.TimeoutExpired as exc:
        raise Unreachable(f"svn: {what}: no answer in {TIMEOUT}s") from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        if "E170001" in done.stderr or "E215004" in done.stderr:  # authorization failed
            raise CredentialsRejected(f"svn: {what}: {why}")
        if "E170013" in done.stderr or "E731001" in done.stderr:  # cannot connect / host
            raise Unreachable(f"svn: {what}: {why}")
        if "E200009" in done.stderr or "E160013" in done.stderr:  # path not found
            raise NotFound(f"svn: {what}: {why}")
        raise InvalidRequest(f"svn: {what}: {why}")
    return done.stdout


def layout_root(url: str) -> str:
    """The project root of a standard layout URL: what holds trunk/, branches/ and tags/."""
    parts = url.rstrip("/").split("/")
    for i in range(3, len(parts)):  # after scheme://host
        if parts[i] in ("trunk", "branches", "tags"):
            return "/".join(parts[:i])
    return "/".join(parts)


class Subversion:
    """A Subversion project in the standard layout (trunk/, branches/, tags/).

    The project's `server` is the repository (or project) URL; `repo` arguments are that URL,
    a URL inside it, or its name as `repos()` lists it. Subversion has no webhooks and no
    commit statuses: its pipelines use the post-commit hook.
    """

    def __init__(self, scm: ScmAccount, timeout: float = TIMEOUT) -> None:
        self._server = (scm.get("server") or "").rstrip("/")
        self._user = scm.get("username") or ""
        self._password = scm.get("password") or scm.get("token") or ""

    def _url(self, repo: str) -> str:
        return layout_root(repo if "://" in repo else self._server)

    def _ls(self, url: str, what: str, recursive: bool = False) -> list[str]:
        args = ["list", *(["--recursive"] if recursive else []), url]
        return [line for line in _svn(args, self._user, self._password, what).splitlines() if line]

    def check(self) -> str:
        _svn(["info", self._server], self._user, self._password, f"reading {self._server}")
        return self._user

    def repos(self) -> list[Repo]:
        name = self._server.rsplit("/", 1)[-1] or self._server
        return [Repo(name=name, url=self._server)]

    def branches(self, repo: str) -> list[str]:
        root = self._url(repo)
        top = self._ls(root, f"listing {root}")
        found = ["trunk"] if "trunk/" in top else []
        if "branches/" in top:
            found += [b.rstrip("/") for b in self._ls(f"{root}/branches", "listing branches")]
        return found

    def tags(self, repo: str) -> list[str]:
        root = self._url(repo)
        if "tags/" not in self._ls(root, f"listing {root}"):
            return []
        return [t.rstrip("/") for t in self._ls(f"{root}/tags", "listing tags")]

    def _main_line(self, repo: str) -> str:
        root = self._url(repo)
        return f"{root}/trunk" if "trunk/" in self._ls(root, f"listing {root}") else root

    def template_type(self, repo: str) -> str:
        """No language statistics in Subversion: the build file at the root decides."""
        main = self._main_line(repo)
        return templates.build_file_type(self._ls(main, f"listing {main}"))

    def dockerfiles(self, repo: str) -> list[str]:
        main = self._main_line(repo)
        return [p for p in self._ls(main, f"listing {main}", True) if templates.is_dockerfile(p)]

    def _no_webhooks(self) -> InvalidRequest:
        return InvalidRequest(
            "Subversion has no webhooks: use a postCommit trigger and the post-commit hook script"
        )

    def create_webhook(self, repo: str, url: str, secret: str, events: list[WebhookEvent]) -> str:
        raise self._no_webhooks()

    def update_webhook(
        self, repo: str, hook_id: str, url: str, secret: str, events: list[WebhookEvent]
    ) -> str:
        raise self._no_webhooks()

    def delete_webhook(self, repo: str, hook_id: str) -> None:
        return None  # there never is one

    def create_status(
        self,
        repo: str,
        sha: str,
        state: State,
        target_url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None:
        return None  # Subversion has no commit statuses; nothing to report to

    def pull_head(self, repo: str, number: int) -> PullHead:
        raise InvalidRequest("Subversion has no pull requests")

    def access_level(self, repo: str, user_id: int) -> int | None:
        raise InvalidRequest("Subversion has no access levels to ask for")

    def create_tag(self, repo: str, name: str, sha: str, message: str) -> None:
        """`svn copy` of `repo` (a trunk or branch URL) at revision `sha` to tags/<name>."""
        source = repo if "://" in repo else f"{self._url(repo)}/trunk"
        target = f"{layout_root(source)}/tags/{name}"
        revision = sha.removeprefix("r") if sha.removeprefix("r").isdigit() else "HEAD"
        args = ["copy", f"{source}@{revision}", target, "-m", message or f"Cyclone tag {name}"]
        _svn(args, self._user, self._password, f"tagging {source} as {name}")
