"""Local receivers for what Cyclone sends after a run: an HTTP server that answers from a
script per path (webhooks, a fake SCM API) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.repos import GitRepo, sh
from tools.stack import free_port


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    answered: int


@dataclass
class HttpReceiver:
    """Records every request; `script[path]` lists the statuses to answer in turn (the last
    one repeats), 200 for a path without a script. `replies[path]` is a JSON body to send."""

    script: dict[str, list[int]] = field(default_factory=dict)
    replies: dict[str, Callable[[Hit], Any]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                with receiver.lock:
                    seen = sum(1 for h in receiver.hits if h.path == self.path)
                    statuses = receiver.script.get(self.path, [200])
                    status = statuses[min(seen, len(statuses) - 1)]
                    hit = Hit(self.command, self.path, dict(self.headers), body, status)
                    receiver.hits.append(hit)
                reply = receiver.replies.get(self.path)
                out = json.dumps(reply(hit) if reply else {"ok": status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a port of its own
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


class SmtpReceiver:
    def __init__(self) -> None:
        self.handler = _Collect()

    def start(self) -> SmtpReceiver:
        # A port found free may be taken before the server binds it (other stacks start on
        # this machine too): then another one.
        for tries_left in reversed(range(3)):
            self.port = free_port()
            self.controller = Controller(
                self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=30
            )
            try:
                self.controller.start()
                return self
            except OSError:
                self.controller.stop(no_assert=True)
                if not tries_left:
                    raise
        raise AssertionError("unreachable")

    @property
    def messages(self) -> list[tuple[list[str], str]]:
        return list(self.handler.messages)

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Served:
    git: GitRepo
    path: str  # "owner/repo", as the fake SCMs know it
    url: str  # its clone URL on the fake SCMs' host


@contextlib.contextmanager
def serve_repo(root: Path, git: GitRepo) -> Iterator[Served]:
    """`git` (made under `root`) over git's dumb HTTP on 127.0.0.1, the fake SCMs' host."""
    sh("git", "update-server-info", cwd=git.path)
    files = partial(SimpleHTTPRequestHandler, directory=str(root.parent))
    files.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        yield Served(git, f"{root.name}/repo", f"http://127.0.0.1:{port}/{root.name}/repo.git")
    finally:
        server.shutdown()
        server.server_close()
