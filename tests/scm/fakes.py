"""Fakes of the GitHub and GitLab REST APIs at the HTTP boundary (no network here).

Each is a threaded HTTP server on 127.0.0.1 answering the endpoints Cyclone's adapters use,
with the JSON shapes, status codes, error bodies and pagination headers of the real APIs
(GitHub: `Link`; GitLab: `Link` and `X-Next-Page`). State is plain data the tests arrange and
inspect: accounts, repositories, and what Cyclone created (hooks, statuses, tags).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


@dataclass
class FakeRepo:
    """One repository; `files` are blob paths of its default branch."""

    path: str  # "owner/name" or "group/sub/name"
    branches: list[str] = field(default_factory=lambda: ["main"])
    tags: list[str] = field(default_factory=list)
    languages: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # logins that see it
    admins: set[str] = field(default_factory=set)  # logins that may manage hooks
    denied_status: int = 404  # what a hook change by a non-admin answers
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    created_tags: list[dict[str, Any]] = field(default_factory=list)
    refs: list[dict[str, Any]] = field(default_factory=list)
    # GitHub pull requests: number -> {"head": "owner/name" of the head repository (None: a
    # deleted fork), "sha", "ref"}; a head repository the fake does not hold gets its own id.
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    # GitLab members (direct or inherited): user id -> (username, access level).
    access: dict[int, tuple[str, int]] = field(default_factory=dict)
    id: int = 0


class Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class FakeApi:
    """The server and the dispatch; subclasses declare routes and state."""

    prefix = ""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> login
        self.passwords: dict[str, str] = {}  # login -> password
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._routes: list[Route] = []
        self.routes()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # polled every 50 ms: close() returns at once rather than after up to half a second
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def routes(self) -> None:
        raise NotImplementedError

    def route(self, method: str, pattern: str, fn: Callable[..., Any]) -> None:
        self._routes.append((method, re.compile(f"^{self.prefix}{pattern}$"), fn))

    def add_repo(self, repo: FakeRepo) -> FakeRepo:
        repo.id = next(self._ids)
        self.repos[repo.path] = repo
        return repo

    def next_id(self) -> int:
        return next(self._ids)

    def login_of(self, handler: BaseHTTPRequestHandler) -> str | None:
        raise NotImplementedError

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self.lock:
            self.requests.append((handler.command, split.path))
        try:
            for method, pattern, fn in self._routes:
                found = pattern.match(split.path)
                if found and method == handler.command:
                    body = json.loads(raw) if raw.strip() else {}
                    if not raw.strip() and handler.headers.get("Content-Type", "").startswith(
                        "application/x-www-form-urlencoded"
                    ):
                        body = {}
                    if raw and "form-urlencoded" in handler.headers.get("Content-Type", ""):
                        body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                    args = [unquote(g) for g in found.groups()]
                    with self.lock:
                        result = fn(handler, query, body, *args)
                    raise Reply(200, result) if not isinstance(result, Reply) else result
            raise Reply(404, self.not_found())
        except Reply as reply:
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)

    def not_found(self) -> dict[str, Any]:
        return {"message": "Not Found"}

    def page(
        self, handler: BaseHTTPRequestHandler, query: dict[str, str], items: list, default: int
    ) -> Reply:
        """One page of `items` with the pagination headers of the real API."""
        per_page = min(int(query.get("per_page") or default), 100)
        number = max(int(query.get("page") or 1), 1)
        pages = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(number - 1) * per_page : number * per_page]
        path = urlsplit(handler.path).path

        def link(n: int) -> str:
            return f"{self.url}{path}?{urlencode({**query, 'page': n, 'per_page': per_page})}"

        links = []
        if number < pages:
            links.append(f'<{link(number + 1)}>; rel="next"')
            links.append(f'<{link(pages)}>; rel="last"')
        if number > 1:
            links.append(f'<{link(1)}>; rel="first"')
            links.append(f'<{link(number - 1)}>; rel="prev"')
        headers = {"Link": ", ".join(links)} if links else {}
        headers.update(self.page_headers(number, per_page, pages, len(items)))
        return Reply(200, chunk, headers)

    def page_headers(self, page: int, per_page: int, pages: int, total: int) -> dict[str, str]:
        return {}

    def authed(self, handler: BaseHTTPRequestHandler) -> str:
        login = self.login_of(handler)
        if login is None:
            raise self.unauthorized()
        return login

    def repo(self, handler: BaseHTTPRequestHandler, path: str) -> tuple[str, FakeRepo]:
        login = self.authed(handler)
        repo = self.repos.get(path)
        if repo is None or login not in repo.members | repo.admins:
            raise Reply(404, self.not_found())
        return login, repo

    def admin(self, handler: BaseHTTPRequestHandler, path: str) -> FakeRepo:
        login, repo = self.repo(handler, path)
        if login not in repo.admins:
            raise Reply(repo.denied_status, self.denied(repo.denied_status))
        return repo

    def denied(self, status: int) -> dict[str, Any]:
        return self.not_found()


# --- GitHub ---------------------------------------------------------------------------------

GH_DOCS = "https://docs.github.com/rest"
R = r"/repos/([^/]+/[^/]+)"


class FakeGitHub(FakeApi):
    """GitHub Enterprise's REST API under /api/v3 (github.com's is the same at the root)."""

    prefix = "/api/v3"

    def routes(self) -> None:
        self.route("GET", "/user", self.user)
        self.route("GET", "/user/repos", self.user_repos)
        self.route("GET", R, self.get_repo)
        self.route("GET", R + "/branches", self.branches)
        self.route("GET", R + "/tags", self.tags)
        self.route("GET", R + "/languages", self.languages)
        self.route("GET", R + "/contents/?", self.contents)
        self.route("GET", R + "/git/trees/(.+)", self.tree)
        self.route("GET", R + "/hooks", self.list_hooks)
        self.route("POST", R + "/hooks", self.create_hook)
        self.route("PATCH", R + r"/hooks/(\d+)", self.edit_hook)
        self.route("DELETE", R + r"/hooks/(\d+)", self.delete_hook)
        self.route("POST", R + r"/statuses/(\w+)", self.create_status)
        self.route("POST", R + "/git/tags", self.create_git_tag)
        self.route("POST", R + "/git/refs", self.create_ref)
        self.route("GET", R + r"/pulls/(\d+)", self.get_pull)

    def not_found(self) -> dict[str, Any]:
        return {"message": "Not Found", "documentation_url": GH_DOCS, "status": "404"}

    def denied(self, status: int) -> dict[str, Any]:
        if status == 403:
            return {
                "message": "Resource not accessible by personal access token",
                "documentation_url": GH_DOCS,
                "status": "403",
            }
        return self.not_found()

    def unauthorized(self) -> Reply:
        return Reply(401, {"message": "Bad credentials", "documentation_url": GH_DOCS})

    def login_of(self, handler: BaseHTTPRequestHandler) -> str | None:
        auth = handler.headers.get("Authorization") or ""
        kind, _, value = auth.partition(" ")
        if kind.lower() in ("token", "bearer"):
            return self.tokens.get(value)
        if kind.lower() == "basic":
            user, _, secret = base64.b64decode(value).decode().partition(":")
            if self.tokens.get(secret) == user or (
                user in self.passwords and self.passwords[user] == secret
            ):
                return user
        return None

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        owner, name = repo.path.split("/")
        return {
            "id": repo.id,
            "name": name,
            "full_name": repo.path,
            "private": False,
            "owner": {"login": owner, "id": 1, "type": "User"},
            "html_url": f"{self.url}/{repo.path}",
            "url": f"{self.url}/api/v3/repos/{repo.path}",
            "clone_url": f"{self.url}/{repo.path}.git",
            "default_branch": repo.branches[0] if repo.branches else "main",
        }

    def user(self, handler: Any, query: dict, body: dict) -> Any:
        login = self.authed(handler)
        return {"login": login, "id": 1, "type": "User", "name": login.title()}

    def user_repos(self, handler: Any, query: dict, body: dict) -> Any:
        login = self.authed(handler)
        mine = [r for r in self.repos.values() if login in r.members | r.admins]
        return self.page(handler, query, [self._repo_json(r) for r in mine], 30)

    def get_repo(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        return self._repo_json(self.repo(handler, path)[1])

    def _commit(self, repo: FakeRepo) -> dict[str, str]:
        return {"sha": SHA, "url": f"{self.url}/api/v3/repos/{repo.path}/commits/{SHA}"}

    def branches(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.repo(handler, path)[1]
        items = [
            {"name": b, "commit": self._commit(repo), "protected": False} for b in repo.branches
        ]
        return self.page(handler, query, items, 30)

    def tags(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.repo(handler, path)[1]
        items = [
            {
                "name": t,
                "commit": self._commit(repo),
                "zipball_url": f"{self.url}/api/v3/repos/{path}/zipball/{t}",
                "tarball_url": f"{self.url}/api/v3/repos/{path}/tarball/{t}",
                "node_id": "MDM6UmVm",
            }
            for t in repo.tags
        ]
        return self.page(handler, query, items, 30)

    def languages(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        return {k: int(v) for k, v in self.repo(handler, path)[1].languages.items()}

    def contents(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.repo(handler, path)[1]
        top: dict[str, str] = {}
        for f in repo.files:
            head, sep, _ = f.partition("/")
            top[head] = "dir" if sep else top.get(head, "file")
        return [
            {
                "type": kind,
                "name": name,
                "path": name,
                "sha": SHA,
                "size": 0 if kind == "dir" else 10,
                "url": f"{self.url}/api/v3/repos/{path}/contents/{name}",
            }
            for name, kind in sorted(top.items())
        ]

    def tree(self, handler: Any, query: dict, body: dict, path: str, ref: str) -> Any:
        repo = self.repo(handler, path)[1]
        if not repo.files:
            raise Reply(409, {"message": "Git Repository is empty.", "documentation_url": GH_DOCS})
        if ref not in repo.branches and ref not in repo.tags and ref != SHA:
            raise Reply(404, self.not_found())
        dirs = {"/".join(f.split("/")[:i]) for f in repo.files for i in range(1, f.count("/") + 1)}
        entries = [{"path": d, "mode": "040000", "type": "tree", "sha": SHA} for d in dirs]
        entries += [
            {"path": f, "mode": "100644", "type": "blob", "sha": SHA, "size": 10}
            for f in repo.files
        ]
        return {
            "sha": SHA,
            "url": "",
            "tree": sorted(entries, key=lambda e: e["path"]),
            "truncated": False,
        }

    def _hook_json(self, repo: FakeRepo, hook: dict[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in hook["config"].items() if k != "secret"}
        if "secret" in hook["config"]:
            config["secret"] = "********"
        return {
            "type": "Repository",
            "id": hook["id"],
            "name": "web",
            "active": hook.get("active", True),
            "events": hook["events"],
            "config": config,
            "updated_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "url": f"{self.url}/api/v3/repos/{repo.path}/hooks/{hook['id']}",
            "test_url": f"{self.url}/api/v3/repos/{repo.path}/hooks/{hook['id']}/test",
            "ping_url": f"{self.url}/api/v3/repos/{repo.path}/hooks/{hook['id']}/pings",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    def list_hooks(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.admin(handler, path)
        return self.page(
            handler, query, [self._hook_json(repo, h) for h in repo.hooks.values()], 30
        )

    def create_hook(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.admin(handler, path)
        if not isinstance(body.get("config"), dict) or not body["config"].get("url"):
            raise Reply(422, {"message": "Validation Failed", "errors": [{"field": "url"}]})
        hook = {
            "id": self.next_id(),
            "config": dict(body["config"]),
            "events": body.get("events") or ["push"],
            "active": body.get("active", True),
        }
        repo.hooks[hook["id"]] = hook
        return Reply(201, self._hook_json(repo, hook))

    def edit_hook(self, handler: Any, query: dict, body: dict, path: str, hid: str) -> Any:
        repo = self.admin(handler, path)
        hook = repo.hooks.get(int(hid))
        if hook is None:
            raise Reply(404, self.not_found())
        if "config" in body:
            hook["config"] = dict(body["config"])
        if "events" in body:
            hook["events"] = body["events"]
        if "active" in body:
            hook["active"] = body["active"]
        return self._hook_json(repo, hook)

    def delete_hook(self, handler: Any, query: dict, body: dict, path: str, hid: str) -> Any:
        repo = self.admin(handler, path)
        if repo.hooks.pop(int(hid), None) is None:
            raise Reply(404, self.not_found())
        return Reply(204)

    def create_status(self, handler: Any, query: dict, body: dict, path: str, sha: str) -> Any:
        login, repo = self.repo(handler, path)
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise Reply(422, {"message": "Validation Failed", "documentation_url": GH_DOCS})
        status = {"id": self.next_id(), "sha": sha, **body, "creator": {"login": login}}
        repo.statuses.append(status)
        return Reply(201, {**status, "url": "", "created_at": "2024-01-01T00:00:00Z"})

    def create_git_tag(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.repo(handler, path)[1]
        tag = {"sha": f"{self.next_id():040x}", **body}
        repo.created_tags.append(tag)
        return Reply(
            201,
            {
                "node_id": "MDM6VGFn",
                "tag": body["tag"],
                "sha": tag["sha"],
                "url": f"{self.url}/api/v3/repos/{path}/git/tags/{tag['sha']}",
                "message": body.get("message", ""),
                "tagger": body.get("tagger") or {"name": "x", "email": "x", "date": ""},
                "object": {"type": body.get("type", "commit"), "sha": body["object"], "url": ""},
                "verification": {"verified": False, "reason": "unsigned"},
            },
        )

    def _head_repo_json(self, path: str | None) -> dict[str, Any] | None:
        if path is None:
            return None
        known = self.repos.get(path)
        if known is None:  # a fork the fake does not hold: a repository of its own
            known = FakeRepo(path, id=10_000 + sum(map(ord, path)))
        return self._repo_json(known)

    def get_pull(self, handler: Any, query: dict, body: dict, path: str, number: str) -> Any:
        """`GET /repos/{owner}/{repo}/pulls/{pull_number}`, the fields a client reads."""
        repo = self.repo(handler, path)[1]
        pull = repo.pulls.get(int(number))
        if pull is None:
            raise Reply(404, self.not_found())
        head_repo = self._head_repo_json(pull.get("head", repo.path))
        owner = (head_repo or {}).get("owner") or {"login": "ghost", "id": 10001, "type": "User"}
        base_repo = self._repo_json(repo)
        api = f"{self.url}/api/v3/repos/{path}"
        return {
            "url": f"{api}/pulls/{number}",
            "id": 1000 + int(number),
            "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
            "html_url": f"{self.url}/{path}/pull/{number}",
            "number": int(number),
            "state": pull.get("state", "open"),
            "locked": False,
            "title": pull.get("title", "a change"),
            "user": owner,
            "body": "",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "head": {
                "label": f"{owner['login']}:{pull.get('ref', 'topic')}",
                "ref": pull.get("ref", "topic"),
                "sha": pull.get("sha", SHA),
                "user": owner,
                "repo": head_repo,
            },
            "base": {
                "label": f"{base_repo['owner']['login']}:{base_repo['default_branch']}",
                "ref": base_repo["default_branch"],
                "sha": SHA,
                "user": base_repo["owner"],
                "repo": base_repo,
            },
            "author_association": pull.get("author_association", "CONTRIBUTOR"),
            "merged": False,
            "mergeable": True,
            "comments": 0,
            "commits": 1,
        }

    def create_ref(self, handler: Any, query: dict, body: dict, path: str) -> Any:
        repo = self.repo(handler, path)[1]
        if any(r["ref"] == body.get("ref") for r in repo.refs):
            raise Reply(422, {"message": "Reference already exists", "documentation_url": GH_DOCS})
        repo.refs.append(dict(body))
        return Reply(
            201,
            {
                "ref": body["ref"],
                "node_id": "MDM6UmVm",
                "url": f"{self.url}/api/v3/repos/{path}/git/{body['ref']}",
                "object": {"type": "tag", "sha": body["sha"], "url": ""},
            },
        )


# --- GitLab ---------------------------------------------------------------------------------

P = r"/projects/([^/]+)"


class FakeGitLab(FakeApi):
    """GitLab's REST API v4 (and its OAuth password grant)."""

    prefix = ""

    def __init__(self) -> None:
        self.oauth: dict[str, str] = {}  # access token -> login
        super().__init__()

    def routes(self) -> None:
        v4 = "/api/v4"
        self.route("POST", "/oauth/token", self.token)
        self.route("GET", v4 + "/user", self.user)
        self.route("GET", v4 + "/projects", self.projects)
        self.route("GET", v4 + P, self.get_project)
        self.route("GET", v4 + P + "/repository/branches", self.branches)
        self.route("GET", v4 + P + "/repository/tags", self.tags)
        self.route("POST", v4 + P + "/repository/tags", self.create_tag)
        self.route("GET", v4 + P + "/languages", self.languages)
        self.route("GET", v4 + P + "/repository/tree", self.tree)
        self.route("GET", v4 + P + "/hooks", self.list_hooks)
        self.route("POST", v4 + P + "/hooks", self.create_hook)
        self.route("PUT", v4 + P + r"/hooks/(\d+)", self.edit_hook)
        self.route("DELETE", v4 + P + r"/hooks/(\d+)", self.delete_hook)
        self.route("POST", v4 + P + r"/statuses/(\w+)", self.create_status)
        self.route("GET", v4 + P + r"/members/all/(\d+)", self.member)

    def not_found(self) -> dict[str, Any]:
        return {"message": "404 Not found"}

    def denied(self, status: int) -> dict[str, Any]:
        return {"message": "403 Forbidden"} if status == 403 else {"message": "404 Not found"}

    def unauthorized(self) -> Reply:
        return Reply(401, {"message": "401 Unauthorized"})

    def login_of(self, handler: BaseHTTPRequestHandler) -> str | None:
        private = handler.headers.get("PRIVATE-TOKEN")
        if private:
            return self.tokens.get(private)
        kind, _, value = (handler.headers.get("Authorization") or "").partition(" ")
        if kind.lower() == "bearer":
            return self.oauth.get(value) or self.tokens.get(value)
        return None

    def page_headers(self, page: int, per_page: int, pages: int, total: int) -> dict[str, str]:
        return {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
        }

    def project_of(self, handler: Any, ident: str) -> tuple[str, FakeRepo]:
        path = next((p for p, r in self.repos.items() if str(r.id) == ident), ident)
        return self.repo(handler, path)

    def token(self, handler: Any, query: dict, body: dict) -> Any:
        user, password = body.get("username"), body.get("password")
        if body.get("grant_type") != "password" or self.passwords.get(user or "") != password:
            raise Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid, expired,"
                    " revoked, does not match the redirection URI used in the authorization"
                    " request, or was issued to another client.",
                },
            )
        access = f"oauth-{self.next_id()}"
        self.oauth[access] = user or ""
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 7200,
            "refresh_token": f"refresh-{access}",
            "scope": "api",
            "created_at": 1700000000,
        }

    def user(self, handler: Any, query: dict, body: dict) -> Any:
        login = self.authed(handler)
        return {"id": 1, "username": login, "name": login.title(), "state": "active"}

    def _project_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "name": repo.path.rsplit("/", 1)[-1],
            "path": repo.path.rsplit("/", 1)[-1],
            "path_with_namespace": repo.path,
            "default_branch": repo.branches[0] if repo.branches else None,
            "http_url_to_repo": f"{self.url}/{repo.path}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{repo.path}.git",
            "web_url": f"{self.url}/{repo.path}",
            "namespace": {"full_path": repo.path.rsplit("/", 1)[0]},
        }

    def projects(self, handler: Any, query: dict, body: dict) -> Any:
        login = self.authed(handler)
        mine = [r for r in self.repos.values() if login in r.members | r.admins]
        if query.get("membership") not in ("true", "True", "1"):
            mine = list(self.repos.values())
        return self.page(handler, query, [self._project_json(r) for r in mine], 20)

    def get_project(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        return self._project_json(self.project_of(handler, ident)[1])

    def _commit(self) -> dict[str, Any]:
        return {"id": SHA, "short_id": SHA[:8], "title": "a commit", "message": "a commit"}

    def branches(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        repo = self.project_of(handler, ident)[1]
        items = [
            {
                "name": b,
                "commit": self._commit(),
                "merged": False,
                "protected": i == 0,
                "default": i == 0,
                "web_url": f"{self.url}/{repo.path}/-/tree/{b}",
            }
            for i, b in enumerate(repo.branches)
        ]
        return self.page(handler, query, items, 20)

    def tags(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        repo = self.project_of(handler, ident)[1]
        items = [
            {
                "name": t,
                "message": "",
                "target": SHA,
                "commit": self._commit(),
                "release": None,
                "protected": False,
            }
            for t in repo.tags
        ]
        return self.page(handler, query, items, 20)

    def create_tag(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        login, repo = self.project_of(handler, ident)
        if login not in repo.admins:
            raise Reply(403, {"message": "403 Forbidden"})
        if body.get("tag_name") in repo.tags:
            raise Reply(400, {"message": "Tag " + body["tag_name"] + " already exists"})
        repo.tags.append(body["tag_name"])
        repo.created_tags.append(dict(body))
        return Reply(
            201,
            {
                "name": body["tag_name"],
                "message": body.get("message"),
                "target": SHA,
                "commit": self._commit(),
                "release": None,
                "protected": False,
            },
        )

    def languages(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        return self.project_of(handler, ident)[1].languages

    def tree(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        repo = self.project_of(handler, ident)[1]
        if not repo.files:
            raise Reply(404, {"message": "404 Tree Not Found"})
        recursive = query.get("recursive") in ("true", "True", "1")
        base = (query.get("path") or "").strip("/")
        entries: dict[str, str] = {}
        for f in repo.files:
            if base and not f.startswith(base + "/"):
                continue
            parts = f.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if base and len(sub) <= len(base):
                    continue
                depth = i - (base.count("/") + 1 if base else 0)
                if recursive or depth == 1:
                    entries[sub] = "blob" if i == len(parts) else "tree"
        items = [
            {
                "id": SHA,
                "name": p.rsplit("/", 1)[-1],
                "type": t,
                "path": p,
                "mode": "100644" if t == "blob" else "040000",
            }
            for p, t in sorted(entries.items())
        ]
        return self.page(handler, query, items, 20)

    EVENTS = ("push_events", "tag_push_events", "merge_requests_events", "note_events")

    def _hook_json(self, repo: FakeRepo, hook: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in hook.items() if k != "token"}
        return {**out, "project_id": repo.id, "created_at": "2024-01-01T00:00:00.000Z"}

    def list_hooks(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        repo = self.admin(handler, self.project_of(handler, ident)[1].path)
        return self.page(
            handler, query, [self._hook_json(repo, h) for h in repo.hooks.values()], 20
        )

    def create_hook(self, handler: Any, query: dict, body: dict, ident: str) -> Any:
        repo = self.admin(handler, self.project_of(handler, ident)[1].path)
        if not body.get("url"):
            raise Reply(400, {"error": "url is missing"})
        hook = {"id": self.next_id(), "push_events": True, **body}
        for key in self.EVENTS:
            hook[key] = bool(hook.get(key, key == "push_events"))
        repo.hooks[hook["id"]] = hook
        return Reply(201, self._hook_json(repo, hook))

    def edit_hook(self, handler: Any, query: dict, body: dict, ident: str, hid: str) -> Any:
        repo = self.admin(handler, self.project_of(handler, ident)[1].path)
        hook = repo.hooks.get(int(hid))
        if hook is None:
            raise Reply(404, {"message": "404 Not found"})
        hook.update(body)
        return self._hook_json(repo, hook)

    def delete_hook(self, handler: Any, query: dict, body: dict, ident: str, hid: str) -> Any:
        repo = self.admin(handler, self.project_of(handler, ident)[1].path)
        if repo.hooks.pop(int(hid), None) is None:
            raise Reply(404, {"message": "404 Not found"})
        return Reply(204)

    def create_status(self, handler: Any, query: dict, body: dict, ident: str, sha: str) -> Any:
        login, repo = self.project_of(handler, ident)
        if body.get("state") not in ("pending", "running", "success", "failed", "canceled"):
            raise Reply(400, {"error": "state does not have a valid value"})
        status = {"id": self.next_id(), "sha": sha, "status": body["state"], **body}
        repo.statuses.append(status)
        return Reply(201, {**status, "author": {"username": login}})

    def member(self, handler: Any, query: dict, body: dict, ident: str, user_id: str) -> Any:
        """`GET /projects/:id/members/all/:user_id`: a member, direct, inherited or invited;
        404 `{"message": "404 Not found"}` for a user who is none."""
        repo = self.project_of(handler, ident)[1]
        found = repo.access.get(int(user_id))
        if found is None:
            raise Reply(404, {"message": "404 Not found"})
        username, level = found
        return {
            "id": int(user_id),
            "username": username,
            "name": username.title(),
            "state": "active",
            "locked": False,
            "avatar_url": f"{self.url}/uploads/user/avatar/{user_id}/avatar.png",
            "web_url": f"{self.url}/{username}",
            "access_level": level,
            "created_at": "2024-01-01T00:00:00.000Z",
            "created_by": {"id": 1, "username": "root", "name": "Administrator"},
            "expires_at": None,
            "group_saml_identity": None,
            "membership_state": "active",
        }
