"""A SonarQube web API stand-in at the HTTP boundary, with the real answers' shapes:
POST /api/ce/submit (what the scanner calls), GET /api/ce/task (PENDING, IN_PROGRESS, then
SUCCESS), /api/qualitygates/project_status and /api/measures/component. It checks the token
the way SonarQube takes it (HTTP basic, token as the user name)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MEASURES = [
    {"metric": "bugs", "value": "2", "bestValue": False},
    {"metric": "coverage", "value": "3.2", "bestValue": False},
    {"metric": "reliability_rating", "value": "3.0", "bestValue": False},
    {"metric": "ncloc", "value": "120"},
]


class FakeSonar:
    def __init__(self, token: str) -> None:
        self.token = token
        self.gate = "OK"  # what project_status answers
        self.tasks: dict[str, dict[str, Any]] = {}  # id -> {projectKey, polls}
        self.calls: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeSonar:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _authorized(self) -> bool:
                raw = self.headers.get("Authorization", "")
                if raw.startswith("Basic "):
                    user = base64.b64decode(raw[6:]).decode().split(":", 1)[0]
                    return user == fake.token
                return False

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.calls.append(f"{method} {url.path}")
                if not self._authorized():
                    self._send(401, {"errors": [{"msg": "Authentication required"}]})
                    return
                if method == "POST" and url.path == "/api/ce/submit":
                    length = int(self.headers.get("Content-Length") or 0)
                    form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                    task = "AY" + uuid.uuid4().hex[:18]
                    fake.tasks[task] = {"projectKey": form.get("projectKey", ""), "polls": 0}
                    self._send(200, {"taskId": task, "projectId": "AY" + uuid.uuid4().hex[:18]})
                elif method == "GET" and url.path == "/api/ce/task":
                    task = fake.tasks.get(query.get("id", ""))
                    if task is None:
                        self._send(404, {"errors": [{"msg": "No activity found for task"}]})
                        return
                    task["polls"] += 1
                    status = (
                        ["PENDING", "IN_PROGRESS"][task["polls"] - 1]
                        if task["polls"] < 3
                        else "SUCCESS"
                    )
                    body = {
                        "id": query["id"],
                        "type": "REPORT",
                        "componentKey": task["projectKey"],
                        "status": status,
                        "submittedAt": "2026-11-27T06:00:00+0000",
                    }
                    if status == "SUCCESS":
                        body["analysisId"] = "AN" + query["id"]
                    self._send(200, {"task": body})
                elif method == "GET" and url.path == "/api/qualitygates/project_status":
                    conditions = [
                        {
                            "status": "ERROR" if fake.gate == "ERROR" else "OK",
                            "metricKey": "coverage",
                            "comparator": "LT",
                            "errorThreshold": "80",
                            "actualValue": "3.2",
                        }
                    ]
                    self._send(
                        200,
                        {
                            "projectStatus": {
                                "status": fake.gate,
                                "conditions": conditions,
                                "ignoredConditions": False,
                            }
                        },
                    )
                elif method == "GET" and url.path == "/api/measures/component":
                    self._send(
                        200,
                        {
                            "component": {
                                "key": query.get("component", ""),
                                "name": query.get("component", ""),
                                "qualifier": "TRK",
                                "measures": MEASURES,
                            }
                        },
                    )
                else:
                    self._send(404, {"errors": [{"msg": f"Unknown url : {url.path}"}]})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler
