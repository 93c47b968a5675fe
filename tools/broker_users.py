"""`python -m tools.broker_users SPEC [--wait 300]`: RabbitMQ users of a Cyclone stack, made
idempotently through the management HTTP API (k8s/rabbitmq.yaml runs it as a Job).

SPEC is a JSON file: `{"users": [{"uri": "<variable>", "tags": [...], "permissions":
{"configure", "write", "read"}, "topicPermissions": [{"exchange", "write", "read"}]}]}`. Each
user is the one of the AMQP URI in that environment variable (CYCLONE_AMQP_URI for the services,
CYCLONE_KUBE_WORKER_AMQP_URI for worker pods): its name, password and vhost come from the URI,
so the password lives in one place only. For each, in this order: the vhost unless it exists,
then PUTs (201 or 204 whether it existed or not) of the user (its password set again), its
permissions on the vhost and each topic permission. Then RabbitMQ's default `guest` user is
deleted if present. Running it again changes nothing (or sets changed passwords).

The API is CYCLONE_RABBITMQ_API (e.g. http://rabbitmq.cyclone.svc:15672/api), as the
administrator RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS (the variables the broker's image
reads too). It is asked until it answers, for at most --wait seconds (the broker may still be
starting). A URI still holding a `replace-me` placeholder or no password is refused, and so is
a user named `guest`. Exit status: 0 done, 1 failed (the reason on stderr), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from shared import brokers
from shared.config import PLACEHOLDER_PREFIX

API_ENV = "CYCLONE_RABBITMQ_API"
ADMIN_USER_ENV, ADMIN_PASS_ENV = "RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"
DEFAULT_USER = "guest"  # RabbitMQ's own, password guest: never left on a reachable broker
REQUEST_TIMEOUT = 10.0
OK, FAILED, USAGE = 0, 1, 2


class SetupError(Exception):
    """The users cannot be made as asked (bad settings, refused by the broker)."""


class ApiRefused(SetupError):
    """The management API answered a request with an error status (404 aside)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body}".rstrip(": "))
        self.status = status


@dataclass(frozen=True)
class BrokerUser:
    name: str
    password: str
    vhost: str
    tags: tuple[str, ...]
    permissions: Mapping[str, str]
    topic_permissions: tuple[Mapping[str, str], ...]


def user_from_uri(variable: str, uri: str) -> tuple[str, str, str]:
    """(user, password, vhost) of an AMQP URI as kombu reads it (vhost `/` when none)."""
    if not uri:
        raise SetupError(f"{variable} is not set")
    if PLACEHOLDER_PREFIX in uri:
        raise SetupError(f"{variable} still holds a placeholder ({PLACEHOLDER_PREFIX}...)")
    # Several nodes of one cluster (shared/brokers.py) share their users: the first one tells.
    parts = urlsplit(brokers.nodes(uri)[0])
    if parts.scheme not in ("amqp", "amqps", "pyamqp"):
        raise SetupError(f"{variable} is not an amqp:// URI")
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not user or not password:
        raise SetupError(f"{variable} names no user and password")
    if user == DEFAULT_USER:
        raise SetupError(f"{variable}: the `{DEFAULT_USER}` user is not for a reachable broker")
    return user, password, unquote(parts.path[1:]) or "/"


def read_spec(spec: Mapping[str, Any], environ: Mapping[str, str]) -> list[BrokerUser]:
    users = []
    for entry in spec.get("users") or []:
        variable = str(entry["uri"])
        name, password, vhost = user_from_uri(variable, environ.get(variable, ""))
        permissions = {k: str(entry["permissions"][k]) for k in ("configure", "write", "read")}
        topics = tuple(
            {k: str(item[k]) for k in ("exchange", "write", "read")}
            for item in entry.get("topicPermissions") or []
        )
        users.append(
            BrokerUser(name, password, vhost, tuple(entry.get("tags") or ()), permissions, topics)
        )
    if not users:
        raise SetupError("the spec names no users")
    names = [user.name for user in users]
    if len(set(names)) != len(names):  # e.g. workers given the services' user
        raise SetupError(f"the URIs must name different users, got {names}")
    return users


Request = Callable[[str, str, Mapping[str, Any] | None], int]


def http_api(base: str, user: str, password: str) -> Request:
    """A management API caller: (method, path, JSON body) -> HTTP status; raises ApiRefused for
    statuses over 399 except 404, OSError (URLError) when there is no answer."""
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies

    def request(method: str, path: str, body: Mapping[str, Any] | None = None) -> int:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
        req.add_header("Authorization", auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with opener.open(req, timeout=REQUEST_TIMEOUT) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 404
            text = exc.read().decode(errors="replace")[:300]
            raise ApiRefused(method, path, exc.code, text) from None

    return request


def wait_for_api(
    request: Request, wait: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Until the API answers as the administrator (connection refused, 5xx: not yet)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if request("GET", "/whoami", None) == 200:
                return
            problem = "GET /whoami is 404: is this RabbitMQ's management API?"
            raise SetupError(problem)
        except ApiRefused as exc:
            if exc.status in (401, 403):
                raise SetupError(
                    f"the management API refused {ADMIN_USER_ENV} ({exc.status}): is it the "
                    "broker's administrator, made at its first start from these variables?"
                ) from exc
            problem = str(exc)
        except OSError as exc:
            problem = str(getattr(exc, "reason", exc))
        if time.monotonic() >= deadline:
            raise SetupError(f"the management API did not answer within {wait:g}s: {problem}")
        sleep(2.0)


def apply(request: Request, users: list[BrokerUser], admin: str) -> list[str]:
    """Make every user as the spec says; returns what was done, one line each."""
    done = []

    def put(path: str, body: Mapping[str, Any]) -> None:
        status = request("PUT", path, body)
        if status not in (200, 201, 204):
            raise SetupError(f"PUT {path}: HTTP {status}")
        done.append(f"PUT {path}")

    for user in users:
        name, vhost = quote(user.name, safe=""), quote(user.vhost, safe="")
        if request("GET", f"/vhosts/{vhost}", None) == 404:
            put(f"/vhosts/{vhost}", {})
        put(f"/users/{name}", {"password": user.password, "tags": ",".join(user.tags)})
        put(f"/permissions/{vhost}/{name}", dict(user.permissions))
        for topic in user.topic_permissions:
            put(f"/topic-permissions/{vhost}/{name}", dict(topic))
    if admin != DEFAULT_USER and request("DELETE", f"/users/{DEFAULT_USER}", None) != 404:
        done.append(f"DELETE /users/{DEFAULT_USER}")
    return done


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m tools.broker_users", description="Make a Cyclone stack's RabbitMQ users."
    )
    parser.add_argument("spec", type=Path, help="the users, as JSON (see the module docstring)")
    parser.add_argument(
        "--wait", type=float, default=300.0, help="seconds to wait for the API (default 300)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return OK if not exc.code else USAGE
    try:
        base, admin, password = (env.get(k, "") for k in (API_ENV, ADMIN_USER_ENV, ADMIN_PASS_ENV))
        if not (base and admin and password):
            raise SetupError(f"set {API_ENV}, {ADMIN_USER_ENV} and {ADMIN_PASS_ENV}")
        if PLACEHOLDER_PREFIX in password:
            raise SetupError(
                f"{ADMIN_PASS_ENV} still holds a placeholder ({PLACEHOLDER_PREFIX}...)"
            )
        users = read_spec(json.loads(args.spec.read_text()), env)
        request = http_api(base, admin, password)
        wait_for_api(request, args.wait)
        for line in apply(request, users, admin):
            print(line)
    except SetupError as exc:
        print(f"broker users: {exc}", file=sys.stderr)
        return FAILED
    except (OSError, ValueError, KeyError) as exc:  # no answer, an unreadable spec
        print(f"broker users: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
    return OK


if __name__ == "__main__":
    sys.exit(main())
