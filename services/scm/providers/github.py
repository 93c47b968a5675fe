"""GitHub and GitHub Enterprise through PyGithub (REST API v3).

github.com's API is at https://api.github.com, an Enterprise server's at {server}/api/v3.
A token (personal access token) is sent as a bearer token; without one, the username and
password go as basic auth (GitHub.com refuses passwords on its API: use a token there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException, InputGitAuthor
from github.Repository import Repository

from services.scm.domain import templates
from services.scm.providers.base import (
    STATUS_CONTEXT,
    TIMEOUT,
    PullHead,
    Repo,
    State,
    WebhookEvent,
    error_for,
    network_reason,
)
from shared.contracts.errors import InvalidRequest, NotFound, Unreachable
from shared.contracts.rpc import ScmAccount

EVENTS: dict[str, list[str]] = {
    "push": ["push"],
    # `create` fires for every new tag, pushed or made by a release; subscribing to `release`
    # as well would run a published release twice (services/scm/domain/triggers.py).
    "tagRelease": ["create"],
    "pullRequest": ["pull_request"],
    "pullRequestComment": ["issue_comment"],
}
STATES = {
    "pending": "pending",
    "running": "pending",
    "success": "success",
    "failure": "failure",
    "canceled": "error",
}
TAGGER = InputGitAuthor("Cyclone", "cyclone@localhost")


def api_url(server: str) -> str:
    host = urlsplit(server if "://" in server else f"https://{server}").hostname or ""
    if host in ("github.com", "www.github.com", "api.github.com"):
        return "https://api.github.com"
    return server.rstrip("/") + "/api/v3"


class GitHub:
    def __init__(self, scm: ScmAccount, timeout: float = TIMEOUT) -> None:
        self._base = api_url(scm.get("server") or "https://github.com")
        self._username = scm.get("username") or ""
        if scm.get("token"):
            auth: Auth.Auth = Auth.Token(scm["token"])
        else:
            auth = Auth.Login(self._username, scm.get("password") or "")
        self._gh = Github(
            auth=auth,
            base_url=self._base,
            timeout=int(max(timeout, 1)),
            retry=None,  # the caller decides; a retrying client outlasts the RPC timeout
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # no GET before each action: one request per call where possible
        )
        self._name = f"GitHub at {self._base}"

    @contextlib.contextmanager
    def _errors(self, what: str, admin_action: bool = False) -> Iterator[None]:
        try:
            yield
        except GithubException as exc:
            message = exc.data.get("message", "") if isinstance(exc.data, dict) else str(exc.data)
            raise error_for(exc.status, message, self._name, what, admin_action) from None
        except requests.RequestException as exc:
            raise error_for(None, network_reason(exc), self._name, what) from None
        except ValueError as exc:  # a body that is not the API's JSON: not its API at all
            raise Unreachable(
                f"{self._name} answered {what} with something else than its API's JSON: {exc}"
            ) from None

    def _full(self, repo: str) -> str:
        repo = repo.strip("/").removesuffix(".git")
        if "/" in repo:
            return repo
        return f"{self._username or self.check()}/{repo}"

    def _repo(self, repo: str) -> Repository:
        return self._gh.get_repo(self._full(repo), lazy=True)

    def check(self) -> str:
        try:
            return self._check()
        except NotFound as exc:
            raise InvalidRequest(
                f"{self._name} is not a GitHub API: GET /user answered 404"
            ) from exc

    def _check(self) -> str:
        with self._errors("reading the user"):
            return self._gh.get_user().login

    def repos(self) -> list[Repo]:
        with self._errors("listing repositories"):
            return [
                Repo(name=r.full_name, url=r.clone_url) for r in self._gh.get_user().get_repos()
            ]

    def branches(self, repo: str) -> list[str]:
        with self._errors(f"listing branches of {repo}"):
            return [b.name for b in self._repo(repo).get_branches()]

    def tags(self, repo: str) -> list[str]:
        with self._errors(f"listing tags of {repo}"):
            return [t.name for t in self._repo(repo).get_tags()]

    def template_type(self, repo: str) -> str:
        gh_repo = self._repo(repo)
        with self._errors(f"reading the languages of {repo}"):
            languages = gh_repo.get_languages()
        names: list[str] = []
        if templates.needs_root(templates.top_language(languages)):
            with self._errors(f"listing the root of {repo}"):
                listing = gh_repo.get_contents("")
            names = [c.name for c in (listing if isinstance(listing, list) else [listing])]
        return templates.template_type(languages, names)

    def dockerfiles(self, repo: str) -> list[str]:
        with self._errors(f"listing the files of {repo}"):
            gh_repo = self._gh.get_repo(self._full(repo), lazy=False)
            try:
                tree = gh_repo.get_git_tree(gh_repo.default_branch, recursive=True)
            except GithubException as exc:
                if exc.status == 409:  # "Git Repository is empty."
                    return []
                raise
            return [
                e.path for e in tree.tree if e.type == "blob" and templates.is_dockerfile(e.path)
            ]

    @staticmethod
    def _hook(url: str, secret: str, events: list[WebhookEvent]) -> tuple[dict, list[str]]:
        config = {"url": url, "content_type": "json", "insecure_ssl": "0", "secret": secret}
        return config, sorted({name for e in events for name in EVENTS[e]})

    def create_webhook(self, repo: str, url: str, secret: str, events: list[WebhookEvent]) -> str:
        config, names = self._hook(url, secret, events)
        with self._errors(f"creating a webhook on {repo}", admin_action=True):
            return str(self._repo(repo).create_hook("web", config, names, active=True).id)

    def update_webhook(
        self, repo: str, hook_id: str, url: str, secret: str, events: list[WebhookEvent]
    ) -> str:
        config, names = self._hook(url, secret, events)
        with self._errors(f"updating webhook {hook_id} on {repo}", admin_action=True):
            try:
                self._repo(repo).get_hook(int(hook_id)).edit("web", config, events=names)
                return hook_id
            except GithubException as exc:
                if exc.status != 404:
                    raise
        # Gone from the repository (or never ours to see): create it; a missing admin
        # right then shows as the create's own permission error.
        return self.create_webhook(repo, url, secret, events)

    def delete_webhook(self, repo: str, hook_id: str) -> None:
        with self._errors(f"deleting webhook {hook_id} on {repo}", admin_action=True):
            try:
                self._repo(repo).get_hook(int(hook_id)).delete()
            except GithubException as exc:
                if exc.status != 404:  # already gone
                    raise

    def create_status(
        self,
        repo: str,
        sha: str,
        state: State,
        target_url: str,
        description: str,
        context: str = STATUS_CONTEXT,
    ) -> None:
        with self._errors(f"setting the status of {sha[:12]} on {repo}"):
            self._repo(repo).get_commit(sha).create_status(
                STATES[state], target_url or "", description[:140], context
            )

    def create_tag(self, repo: str, name: str, sha: str, message: str) -> None:
        gh_repo = self._repo(repo)
        with self._errors(f"creating tag {name} on {repo}", admin_action=False):
            tag = gh_repo.create_git_tag(name, message or name, sha, "commit", TAGGER)
            gh_repo.create_git_ref(f"refs/tags/{name}", tag.sha)

    def pull_head(self, repo: str, number: int) -> PullHead:
        with self._errors(f"reading pull request #{number} of {repo}"):
            pull = self._repo(repo).get_pull(number)
            head, base = pull.head.repo, pull.base.repo
            return PullHead(
                sha=pull.head.sha,
                repo=head.full_name if head is not None else "",
                from_fork=head is None or base is None or head.id != base.id,
            )

    def access_level(self, repo: str, user_id: int) -> int | None:
        raise InvalidRequest("GitHub comments carry their author's association; no level asked")
