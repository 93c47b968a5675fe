"""GitLab (gitlab.com or self-managed) through python-gitlab (REST API v4 at {server}/api/v4).

A token (personal, group or project access token) is sent as PRIVATE-TOKEN. Without one, a
username and password get an OAuth token from the password grant (`POST {server}/oauth/token`)
for the adapter's lifetime: such tokens expire after two hours, so the password stays stored
(sealed) rather than a token that would stop working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gitlab
import requests
from gitlab.exceptions import GitlabError
from gitlab.v4.objects import Project

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

EVENTS: dict[str, str] = {
    "push": "push_events",
    "tagRelease": "tag_push_events",
    "pullRequest": "merge_requests_events",
    "pullRequestComment": "note_events",
}
STATES = {
    "pending": "pending",
    "running": "running",
    "success": "success",
    "failure": "failed",
    "canceled": "canceled",
}


class GitLab:
    def __init__(self, scm: ScmAccount, timeout: float = TIMEOUT) -> None:
        self._server = (scm.get("server") or "https://gitlab.com").rstrip("/")
        self._scm = scm
        self._timeout = timeout
        self._name = f"GitLab at {self._server}"
        self._client: gitlab.Gitlab | None = None

    @contextlib.contextmanager
    def _errors(self, what: str, admin_action: bool = False) -> Iterator[None]:
        try:
            yield
        except GitlabError as exc:
            message = str(exc.error_message or "")
            raise error_for(exc.response_code, message, self._name, what, admin_action) from None
        except requests.RequestException as exc:
            raise error_for(None, network_reason(exc), self._name, what) from None
        except ValueError as exc:  # a body that is not the API's JSON: not its API at all
            raise Unreachable(
                f"{self._name} answered {what} with something else than its API's JSON: {exc}"
            ) from None

    def _gl(self) -> gitlab.Gitlab:
        if self._client is None:
            token = self._scm.get("token")
            self._client = gitlab.Gitlab(
                self._server,
                private_token=token or None,
                oauth_token=None if token else self._password_grant(),
                timeout=self._timeout,
                retry_transient_errors=False,
                per_page=100,
            )
        return self._client

    def _password_grant(self) -> str:
        what = "getting a token for the username and password"
        try:
            resp = requests.post(
                f"{self._server}/oauth/token",
                json={
                    "grant_type": "password",
                    "username": self._scm.get("username") or "",
                    "password": self._scm.get("password") or "",
                },
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise error_for(None, network_reason(exc), self._name, what) from None
        body = _json(resp)
        if resp.status_code in (400, 401) and body.get("error") in ("invalid_grant", None):
            message = body.get("error_description") or body.get("message") or resp.reason
            raise error_for(401, str(message), self._name, what)
        if resp.status_code != 200 or not body.get("access_token"):
            raise error_for(resp.status_code, str(body or resp.reason), self._name, what)
        return str(body["access_token"])

    def _project(self, repo: str) -> Project:
        return self._gl().projects.get(repo.strip("/").removesuffix(".git"), lazy=True)

    def check(self) -> str:
        try:
            return self._check()
        except NotFound as exc:
            raise InvalidRequest(
                f"{self._name} is not a GitLab API: GET /user answered 404"
            ) from exc

    def _check(self) -> str:
        with self._errors("reading the user"):
            gl = self._gl()
            gl.auth()
            assert gl.user is not None
            return str(gl.user.username)

    def repos(self) -> list[Repo]:
        with self._errors("listing projects"):
            return [
                Repo(name=p.path_with_namespace, url=p.http_url_to_repo)
                for p in self._gl().projects.list(membership=True, iterator=True)
            ]

    def branches(self, repo: str) -> list[str]:
        with self._errors(f"listing branches of {repo}"):
            return [b.name for b in self._project(repo).branches.list(iterator=True)]

    def tags(self, repo: str) -> list[str]:
        with self._errors(f"listing tags of {repo}"):
            return [t.name for t in self._project(repo).tags.list(iterator=True)]

    def template_type(self, repo: str) -> str:
        project = self._project(repo)
        with self._errors(f"reading the languages of {repo}"):
            answer = project.languages()
        # {"Python": 80.5, ...}; python-gitlab types it as JSON or a raw response
        languages = answer if isinstance(answer, dict) else {}
        names: list[str] = []
        if templates.needs_root(templates.top_language(languages)):
            with self._errors(f"listing the root of {repo}"):
                names = [e["name"] for e in project.repository_tree(iterator=True)]
        return templates.template_type(languages, names)

    def dockerfiles(self, repo: str) -> list[str]:
        with self._errors(f"listing the files of {repo}"):
            try:
                tree = list(self._project(repo).repository_tree(recursive=True, iterator=True))
            except GitlabError as exc:
                if exc.response_code == 404 and "Tree" in str(exc.error_message):
                    return []  # an empty repository has no tree
                raise
        return [
            e["path"] for e in tree if e["type"] == "blob" and templates.is_dockerfile(e["path"])
        ]

    @staticmethod
    def _hook(url: str, secret: str, events: list[WebhookEvent]) -> dict[str, str | bool]:
        # Every event flag is sent: GitLab turns push events on when none is given.
        flags = {field: field in {EVENTS[e] for e in events} for field in EVENTS.values()}
        return {"url": url, "token": secret, "enable_ssl_verification": True, **flags}

    def create_webhook(self, repo: str, url: str, secret: str, events: list[WebhookEvent]) -> str:
        with self._errors(f"creating a webhook on {repo}", admin_action=True):
            return str(self._project(repo).hooks.create(self._hook(url, secret, events)).id)

    def update_webhook(
        self, repo: str, hook_id: str, url: str, secret: str, events: list[WebhookEvent]
    ) -> str:
        with self._errors(f"updating webhook {hook_id} on {repo}", admin_action=True):
            try:
                self._project(repo).hooks.update(int(hook_id), self._hook(url, secret, events))
                return hook_id
            except GitlabError as exc:
                if exc.response_code != 404:
                    raise
        return self.create_webhook(repo, url, secret, events)  # gone meanwhile

    def delete_webhook(self, repo: str, hook_id: str) -> None:
        with self._errors(f"deleting webhook {hook_id} on {repo}", admin_action=True):
            try:
                self._project(repo).hooks.delete(int(hook_id))
            except GitlabError as exc:
                if exc.response_code != 404:  # already gone
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
        status = {"state": STATES[state], "name": context, "description": description[:255]}
        if target_url:
            status["target_url"] = target_url
        with self._errors(f"setting the status of {sha[:12]} on {repo}"):
            self._project(repo).commits.get(sha, lazy=True).statuses.create(status)

    def create_tag(self, repo: str, name: str, sha: str, message: str) -> None:
        with self._errors(f"creating tag {name} on {repo}"):
            self._project(repo).tags.create(
                {"tag_name": name, "ref": sha, "message": message or name}
            )

    def pull_head(self, repo: str, number: int) -> PullHead:
        raise InvalidRequest("GitLab note events name the merge request's source project")

    def access_level(self, repo: str, user_id: int) -> int | None:
        """`GET /projects/:id/members/all/:user_id`: direct, inherited and invited members.
        GitLab answers 404 both for a user who is no member and for a project the account
        does not see: no access either way."""
        with self._errors(f"reading the access of user {user_id} to {repo}"):
            try:
                member = self._project(repo).members_all.get(user_id)
            except GitlabError as exc:
                if exc.response_code == 404:
                    return None
                raise
            level = getattr(member, "access_level", None)
            return level if isinstance(level, int) else None


def _json(resp: requests.Response) -> dict[str, object]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
