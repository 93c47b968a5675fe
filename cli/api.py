"""The public API over HTTP: one httpx client, and the two ways a call can fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from cli.domain import EXIT_REFUSED, CliError, Target
from cli.settings import Connection

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class Refused(CliError):
    """The API answered 4xx: the request is wrong (name, token, body), not Cyclone."""

    exit_code = EXIT_REFUSED

    def __init__(self, status: int, message: str, reason: str, details: list | None) -> None:
        lines = [f"{message} ({reason}, HTTP {status})"]
        lines += [f"  {d.get('field', '?')}: {d.get('error', '')}" for d in details or []]
        super().__init__("\n".join(lines))
        self.status = status
        self.reason = reason


class Unreachable(CliError):
    """No answer, or a 5xx: Cyclone (or the way to it) is down, not the request."""


def failure(resp: httpx.Response) -> CliError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or resp.reason_phrase or "no message"
    reason = body.get("reason") or "Error"
    if resp.status_code >= 500:
        return Unreachable(f"the server failed: {message} ({reason}, HTTP {resp.status_code})")
    return Refused(resp.status_code, message, reason, body.get("details"))


def pipeline_path(target: Target) -> str:
    return f"/api/v1/projects/{quote(target.project)}/pipelines/{quote(target.pipeline)}"


def records_path(target: Target, record: str = "") -> str:
    return pipeline_path(target) + "/records" + (f"/{quote(record)}" if record else "")


class Api:
    def __init__(self, conn: Connection, user_agent: str) -> None:
        self.conn = conn
        headers = {"User-Agent": user_agent}
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        self._http = httpx.Client(base_url=conn.server, headers=headers, timeout=TIMEOUT)
        self.last_headers: httpx.Headers = httpx.Headers()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (None for 204); a CliError for anything else."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 400:
            raise failure(resp)
        return resp.json() if resp.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def stream(self, path: str, **params: Any) -> Iterator[bytes]:
        """An answer in chunks as they arrive (a log or an artifact may be larger than memory);
        its headers are in `last_headers` once it has begun."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=query) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise failure(resp)
                self.last_headers = resp.headers
                yield from resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(f"cannot reach {self.conn.server}: {exc or type(exc).__name__}")
