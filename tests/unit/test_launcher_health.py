"""The launcher's own small helpers that replace library calls to keep its memory small
(tools/stack.py: healthz_ok instead of urllib, random_token instead of secrets)."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tools.stack import healthz_ok, random_token


@contextmanager
def answering(status: int) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status if self.path == "/healthz" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_healthy_only_on_a_200_from_healthz():
    with answering(200) as port:
        assert healthz_ok(port)
    with answering(503) as port:
        assert not healthz_ok(port)


def test_nothing_listening_or_a_silent_peer_is_not_healthy():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert not healthz_ok(port)  # refused
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not healthz_ok(silent.getsockname()[1], timeout=0.2)  # never answers


def test_random_tokens_are_url_safe_and_differ():
    tokens = {random_token(32) for _ in range(100)}
    assert len(tokens) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)
