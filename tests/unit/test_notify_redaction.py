"""Notification URLs are credentials: the scm service opens the sealed URL to send, and its
notes (stored in scm_outbox as lastError, and logged) show only scheme and host."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

from services.scm.domain import notify
from services.scm.senders import Senders, post_json
from services.scm.settings import Delivery
from shared.crypto import SecretBox

SECRET_PATH = "/services/T000/B000/XXXXSECRETXXXX"


def test_redacted_url_keeps_scheme_and_host_only():
    assert notify.redacted_url("https://hooks.slack.com" + SECRET_PATH) == (
        "https://hooks.slack.com/******"
    )
    assert (
        notify.redacted_url("http://u:pw@10.0.0.1:8080/x?token=t") == "http://10.0.0.1:8080/******"
    )
    assert notify.redacted_url("not a url") == "******"
    assert notify.redacted_url("http://[::1") == "******"  # unparsable


def test_scrubbed_removes_the_url_and_its_parts():
    url = "https://hooks.slack.com" + SECRET_PATH + "?k=v"
    text = f"failed to reach {url}; path {SECRET_PATH}"
    out = notify.scrubbed(text, url)
    assert "SECRET" not in out and "k=v" not in out and "hooks.slack.com" in out


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A port that refuses connections while the block runs: bound, so no other process can
    take it and answer (a port only closed a moment ago may be), but not listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_post_json_notes_never_name_the_url():
    with _closed_port() as port:
        outcome, note = post_json(f"http://127.0.0.1:{port}{SECRET_PATH}", {"x": 1}, 2, "d1")
    assert outcome == "retry" and "SECRET" not in note and "127.0.0.1" in note
    outcome, note = post_json("ftp://h" + SECRET_PATH, {"x": 1}, 2, "d2")
    assert "SECRET" not in note


def test_senders_open_the_sealed_url_and_note_without_it():
    class _Hits(BaseHTTPRequestHandler):
        seen: list[str] = []  # this test's own: a class per run, not one kept by the module

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            _Hits.seen.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        box = SecretBox("a passphrase of the install")
        url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
        doc = {"_id": "r:slack:0:0", "kind": "slack", "target": {"url": box.encrypt(url)}}
        send = Senders(Delivery(public_url="http://ci", timeout=5), box)
        outcome, note = send({**doc, "body": {"text": "hi"}})
        assert (outcome, _Hits.seen) == ("done", [SECRET_PATH])
        assert "SECRET" not in note and note.endswith("answered 204")
        # Without the key the sealed URL is not sent anywhere.
        outcome, note = Senders(Delivery(public_url="http://ci"), None)(doc)
        assert outcome == "give_up" and "CYCLONE_SECRET_KEY" in note
        outcome, note = Senders(Delivery(public_url="http://ci"), SecretBox("wrong"))(doc)
        assert outcome == "give_up" and _Hits.seen == [SECRET_PATH]
    finally:
        server.shutdown()
        server.server_close()
