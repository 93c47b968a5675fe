"""Following a record's live log over the logstream WebSocket until the record ends.

The stream replays what is stored, then live lines, and closes with 1000 once the record has
ended and every line was sent (docs/api.md "Live logs"). A dropped connection is resumed with
`from=N` (the lines already written), so a gateway restart neither loses nor repeats a line.
The token goes in the Authorization header, never in the URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import websocket

from cli.api import Api, Refused, Unreachable, records_path
from cli.domain import FINISHED, CliError, Target

IDLE_TIMEOUT = 90.0  # the server pings every 20 s: this long without a frame is a dead link
GIVE_UP_AFTER = 60.0  # seconds of failed reconnects before the CLI says Cyclone is unreachable
NORMAL_CLOSE = 1000


def ws_url(server: str, path: str, query: dict[str, str | int]) -> str:
    scheme, _, rest = server.partition("://")
    base = ("wss" if scheme == "https" else "ws") + "://" + rest
    return base + path + ("?" + urlencode(query) if query else "")


class Follower:
    """Writes each line of one record's log through `write`, then answers its final status."""

    def __init__(
        self,
        api: Api,
        target: Target,
        record: str,
        write: Callable[[str], None],
        stage: str | None = None,
        task: str | None = None,
    ) -> None:
        self.api = api
        self.target = target
        self.record = record
        self.write = write
        self.filters = {k: v for k, v in (("stage", stage), ("task", task)) if v}
        self.received = 0
        self.on_first_line: Callable[[], None] = lambda: None

    def run(self) -> str:
        failing_since: float | None = None
        while True:
            try:
                closed_normally = self._stream_once()
                failing_since = None
            except Refused:
                raise
            except (OSError, websocket.WebSocketException, Unreachable) as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > GIVE_UP_AFTER:
                    raise Unreachable(f"lost the log stream of {self.record}: {exc}") from exc
                time.sleep(min(5.0, 0.25 * 2 ** min(5, int(now - failing_since))))
                continue
            if closed_normally:
                status = self._final_status()
                if status:
                    return status

    def _stream_once(self) -> bool:
        """One connection: True when the server closed it normally (the log is complete)."""
        # batch frames (a JSON array of lines each): a frame per line costs the gateway a
        # send per line; `from` counts lines either way
        query: dict[str, str | int] = {**self.filters, "from": self.received, "batch": "true"}
        path = records_path(self.target, self.record) + "/logstream"
        try:
            ws = websocket.create_connection(
                ws_url(self.api.conn.server, path, query),
                header=[f"Authorization: Bearer {self.api.conn.token}"],
                timeout=IDLE_TIMEOUT,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise refusal(exc) from exc
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return int.from_bytes(data[:2], "big") == NORMAL_CLOSE if data else False
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    for line in batch_lines(data):
                        if self.received == 0:
                            self.on_first_line()
                        self.write(line)
                        self.received += 1
        finally:
            ws.close()

    def _final_status(self, wait: float = 30.0) -> str | None:
        """The record's status once ended; the log's end and the record's end reach the
        server separately, so it may lag a moment behind the normal close."""
        deadline = time.monotonic() + wait
        while True:
            status = self.api.get(records_path(self.target, self.record))["status"]
            if status in FINISHED or time.monotonic() > deadline:
                return status if status in FINISHED else None
            time.sleep(0.2)


def batch_lines(frame: bytes) -> list[str]:
    """The lines of a batch frame (a JSON array of strings); Unreachable for anything else,
    which only a broken or foreign server sends."""
    try:
        lines = json.loads(frame.decode("utf-8", "replace"))
    except ValueError as exc:
        raise Unreachable(f"the log stream sent a frame that is not a batch: {exc}") from exc
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise Unreachable("the log stream sent a frame that is not a list of lines")
    return lines


def refusal(exc: websocket.WebSocketBadStatusException) -> CliError:
    """The gateway refuses before the upgrade with our JSON error body."""
    code = exc.status_code or 0
    try:
        body = json.loads(exc.resp_body or b"{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or str(exc)
    if code >= 500 or code == 0:
        return Unreachable(f"the log stream failed: {message} (HTTP {code})")
    return Refused(code, message, body.get("reason") or "Error", body.get("details"))
