"""The broker users of k8s/rabbitmq.yaml: the workers' permissions on a real RabbitMQ, and
tools/broker_users.py (the job that makes the users) against a fake management API.

The worker's permissions are read from the manifest and set with rabbitmqctl on a vhost of
this test; the worker's own bus code (services/worker/bus.py, publisher.py) then runs as that
user, so the regexes are shown to allow what a worker does and refuse what it must not do.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import amqp.exceptions
import pytest
import yaml
from kombu import Connection, Consumer, Exchange, Producer, Queue

from services.worker import bus
from services.worker.publisher import LogPublisher
from shared.contracts import events, logs
from tests.support import ROOT, rabbitmqctl
from tools import broker_users

MANIFEST = ROOT / "k8s" / "rabbitmq.yaml"
WORKER_URI_ENV = "CYCLONE_KUBE_WORKER_AMQP_URI"
REFUSED = (amqp.exceptions.AccessRefused, amqp.exceptions.NotAllowed)


def users_spec() -> dict[str, Any]:
    (configmap,) = [
        doc
        for doc in yaml.safe_load_all(MANIFEST.read_text())
        if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "rabbitmq-users"
    ]
    return json.loads(configmap["data"]["users.json"])


def worker_entry() -> dict[str, Any]:
    (entry,) = [u for u in users_spec()["users"] if u["uri"] == WORKER_URI_ENV]
    return entry


# --- the workers' user on a real broker ---------------------------------------------------------


@pytest.fixture(scope="module")
def broker(amqp_uri: str) -> Iterator[tuple[str, str]]:
    """(services' URI as guest, worker's URI as a user with the manifest's permissions)."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    user, password = f"cyclone-worker-test-{secrets.token_hex(4)}", secrets.token_hex(16)
    entry = worker_entry()
    rabbitmqctl("add_user", user, password)
    try:
        perms = entry["permissions"]
        rabbitmqctl(
            "set_permissions", "-p", vhost, user, perms["configure"], perms["write"], perms["read"]
        )
        for topic in entry["topicPermissions"]:
            rabbitmqctl(
                "set_topic_permissions",
                "-p",
                vhost,
                user,
                topic["exchange"],
                topic["write"],
                topic["read"],
            )
        yield amqp_uri, f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
    finally:
        rabbitmqctl("delete_user", user)


def test_the_worker_user_can_do_what_a_worker_does(broker):
    services_uri, worker_uri = broker
    record_id = secrets.token_hex(12)
    with Connection(services_uri) as conn:
        channel = conn.channel()
        # What the scheduler and the logs service would consume.
        seen_events = Queue(
            "test-worker-events",
            bus.event_exchange(events.STAGE_STARTED[0]),
            routing_key="#",
            exclusive=True,
        )
        calls = Queue("test-get-job", bus.RPC_EXCHANGE, routing_key="scheduler.get_job")
        for queue in (seen_events, calls):
            queue(channel).declare()

        def answer(body: Any, message: Any) -> None:  # the scheduler's reply, nameko's way
            Producer(channel).publish(
                {"result": {"job": body["args"][0]}, "error": None},
                exchange=bus.RPC_EXCHANGE,
                routing_key=message.properties["reply_to"],
                correlation_id=message.properties["correlation_id"],
                serializer="json",
            )
            message.ack()

        stop = threading.Event()

        def serve() -> None:
            with Consumer(channel, [calls], callbacks=[answer], accept=["json"]):
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.1)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            # get_job: publish on nameko-rpc, consume the answer on its own reply queue
            got = bus.call(worker_uri, "scheduler", "get_job", [record_id, "token"], timeout=20)
            assert got == {"job": record_id}
        finally:
            stop.set()
            server.join(10)
        # every event a worker sends (EventPublisher and Heartbeat send with EventSender)
        sender = bus.EventSender(worker_uri)
        for event in (
            events.STAGE_STARTED,
            events.STAGE_FINISHED,
            events.RUN_FINISHED,
            events.HEARTBEAT,
        ):
            sender(*event, {"record_id": record_id})
        sender.close()
        # log lines: declares the exchange, the durable queue and their binding itself
        lines = LogPublisher(worker_uri, record_id, token="token")
        lines.line("package", "hello from a pod")
        assert lines.end("package") == 1
        with Connection(services_uri) as reader:
            ingest = reader.SimpleQueue(logs.QUEUE)
            batch = ingest.get(timeout=10)
            assert batch.payload["lines"] == ["hello from a pod"]
            assert batch.payload["eof"] is True  # the end of the log rides on its last lines
            batch.ack()
            ingest.close()
        kinds = []
        received = channel.basic_get
        while len(kinds) < 4:
            message = received(seen_events.name, no_ack=True)
            assert message is not None, kinds
            kinds.append(message.delivery_info["routing_key"])
        assert kinds == ["stage_started", "stage_finished", "run_finished", "heartbeat"]


def refused(worker_uri: str, act: Any) -> str:
    """Run `act(connection, channel)` as the worker; the broker's refusal (or an empty
    string when it went through)."""
    with Connection(worker_uri, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        try:
            act(conn, channel)
        except REFUSED as exc:
            return str(exc)
    return ""


def test_the_worker_user_cannot_do_anything_else(broker):
    _, worker_uri = broker
    reply = f"rpc.reply-cyclone-worker-{secrets.token_hex(16)}"
    rpc = bus.RPC_EXCHANGE
    worker_events = bus.event_exchange(events.STAGE_STARTED[0])

    def publish(exchange: Exchange, key: str):
        def act(conn: Connection, channel: Any) -> None:
            Producer(channel).publish({}, exchange=exchange, routing_key=key, declare=[exchange])

        return act

    def declare(queue: Queue):
        return lambda conn, channel: queue(channel).declare()

    def consume(name: str):
        return lambda conn, channel: channel.basic_consume(name, callback=lambda m: None)

    attempts = {
        # calls other than get_job (another service's RPC, or the scheduler's other methods)
        "call another RPC": publish(rpc, "scheduler.delete_records"),
        "call the api": publish(rpc, "cloud.start_worker"),
        # artifacts: only the token-checked worker calls, not the gateway's reads
        "read any record's artifacts": publish(rpc, "logs.read_artifact"),
        "list any record's artifacts": publish(rpc, "logs.list_artifacts"),
        # listen to RPC calls: bind its reply queue with a service's routing key
        "bind to get_job calls": declare(Queue(reply, rpc, routing_key="scheduler.get_job")),
        "bind to every call": declare(Queue(reply, rpc, routing_key="#")),
        # another event, or another source's events
        "publish another event": publish(worker_events, "record_finished"),
        "publish as the scheduler": publish(bus.event_exchange("scheduler"), "record_finished"),
        "listen to worker events": declare(Queue(reply, worker_events, routing_key="#")),
        # other queues: read the logs of every record, or make a queue of its own
        "consume the log queue": consume(logs.QUEUE),
        "declare another queue": declare(Queue("cyclone-anything", durable=True)),
        "use the default exchange": publish(Exchange(""), logs.QUEUE),
    }
    # the log queue must exist for "consume the log queue" to be about permissions
    with Connection(broker[0]) as conn:
        Queue(logs.QUEUE, Exchange(logs.EXCHANGE, "direct", durable=True), "lines", durable=True)(
            conn.channel()
        ).declare()
    let_through = [what for what, act in attempts.items() if not refused(worker_uri, act)]
    assert let_through == []


def test_the_worker_user_grants_nothing_wide():
    entry = worker_entry()
    regexes = [*entry["permissions"].values()]
    regexes += [t[k] for t in entry["topicPermissions"] for k in ("write", "read")]
    for regex in regexes:
        assert ".*" not in regex and ".+" not in regex, regex
        assert regex.startswith("^") and regex.endswith("$"), regex
    assert entry["tags"] == []  # no management access


# --- tools.broker_users against a fake management API --------------------------------------------


class FakeManagement:
    """RabbitMQ's management API at HTTP: users, vhosts, permissions, topic permissions."""

    def __init__(self, admin: tuple[str, str]) -> None:
        self.auth = "Basic " + base64.b64encode(":".join(admin).encode()).decode()
        self.requests: list[tuple[str, str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {"guest": {"password": "guest", "tags": ""}}
        self.vhosts = {"/"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body))
                if self.headers.get("Authorization") != fake.auth:
                    return self._answer(401)
                self._answer(fake.route(self.command, self.path.removeprefix("/api"), body))

            def _answer(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, method: str, path: str, body: Any) -> int:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["whoami"]:
            return 200
        if parts[0] == "vhosts":
            if method == "GET":
                return 200 if parts[1] in self.vhosts else 404
            created = parts[1] not in self.vhosts
            self.vhosts.add(parts[1])
            return 201 if created else 204
        if parts[0] == "users":
            if method == "DELETE":
                return 204 if self.users.pop(parts[1], None) else 404
            created = parts[1] not in self.users
            self.users[parts[1]] = body
            return 201 if created else 204
        if parts[0] in ("permissions", "topic-permissions"):
            if parts[1] not in self.vhosts or parts[2] not in self.users:
                return 400
            return 201
        return 404

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def __enter__(self) -> FakeManagement:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


ADMIN = ("admin", "admin-password")


@pytest.fixture
def management() -> Iterator[FakeManagement]:
    with FakeManagement(ADMIN) as fake:
        yield fake


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    path.write_text(json.dumps(users_spec()))
    return path


def environ(api: str, **uris: str) -> dict[str, str]:
    return {
        broker_users.API_ENV: api,
        broker_users.ADMIN_USER_ENV: ADMIN[0],
        broker_users.ADMIN_PASS_ENV: ADMIN[1],
        "CYCLONE_AMQP_URI": "amqp://cyclone:s3rvices@rabbitmq.cyclone.svc:5672/",
        WORKER_URI_ENV: "amqp://cyclone-worker:w%40rker@rabbitmq.cyclone.svc:5672/",
        **uris,
    }


def test_the_job_makes_both_users_from_their_uris(management, spec_file, capsys):
    env = environ(management.api)
    assert broker_users.main([str(spec_file), "--wait", "5"], env) == 0
    puts = [(p.removeprefix("/api"), b) for m, p, b in management.requests if m == "PUT"]
    worker = worker_entry()
    assert puts == [
        ("/users/cyclone", {"password": "s3rvices", "tags": ""}),
        ("/permissions/%2F/cyclone", {"configure": ".*", "write": ".*", "read": ".*"}),
        ("/users/cyclone-worker", {"password": "w@rker", "tags": ""}),  # URL-decoded
        ("/permissions/%2F/cyclone-worker", worker["permissions"]),
        *[("/topic-permissions/%2F/cyclone-worker", t) for t in worker["topicPermissions"]],
    ]
    assert "guest" not in management.users  # RabbitMQ's default user is deleted
    assert "DELETE /users/guest" in capsys.readouterr().out
    # Again: the same PUTs (passwords set again), nothing else to delete.
    management.requests.clear()
    assert broker_users.main([str(spec_file), "--wait", "5"], env) == 0
    again = [(p.removeprefix("/api"), b) for m, p, b in management.requests if m == "PUT"]
    assert again == puts


def test_the_job_makes_a_missing_vhost(management, spec_file):
    env = environ(
        management.api,
        CYCLONE_AMQP_URI="amqp://cyclone:pw@mq:5672/ci",
        **{WORKER_URI_ENV: "amqp://cyclone-worker:pw2@mq:5672/ci"},
    )
    assert broker_users.main([str(spec_file), "--wait", "5"], env) == 0
    assert "ci" in management.vhosts
    puts = [p for m, p, _ in management.requests if m == "PUT"]
    assert puts.count("/api/vhosts/ci") == 1 and "/api/permissions/ci/cyclone-worker" in puts


@pytest.mark.parametrize(
    ("uris", "why"),
    [
        ({WORKER_URI_ENV: "amqp://cyclone-worker:replace-me-x@mq:5672/"}, "placeholder"),
        ({WORKER_URI_ENV: "amqp://cyclone-worker@mq:5672/"}, "no user and password"),
        ({WORKER_URI_ENV: "amqp://guest:guest@mq:5672/"}, "guest"),
        ({WORKER_URI_ENV: "amqp://cyclone:other@mq:5672/"}, "different users"),
        ({WORKER_URI_ENV: ""}, "is not set"),
        ({broker_users.ADMIN_PASS_ENV: "replace-me-rabbitmq-admin-password"}, "placeholder"),
    ],
)
def test_the_job_refuses_placeholders_and_shared_users(management, spec_file, capsys, uris, why):
    assert broker_users.main([str(spec_file), "--wait", "5"], environ(management.api, **uris)) == 1
    assert why in capsys.readouterr().err
    assert management.requests == []  # refused before asking anything


def test_the_job_says_when_the_administrator_is_refused(management, spec_file, capsys):
    env = environ(management.api, **{broker_users.ADMIN_PASS_ENV: "wrong"})
    assert broker_users.main([str(spec_file), "--wait", "5"], env) == 1
    assert "refused RABBITMQ_DEFAULT_USER (401)" in capsys.readouterr().err
    assert [m for m, _, _ in management.requests] == ["GET"]  # no retries on a wrong password


def test_the_job_waits_for_the_broker_to_start():
    answers: list[Any] = [
        urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
        broker_users.ApiRefused("GET", "/whoami", 503, "starting"),
        200,
    ]
    slept: list[float] = []

    def request(method: str, path: str, body: Any) -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    broker_users.wait_for_api(request, 60, sleep=slept.append)
    assert answers == [] and len(slept) == 2

    def down(method: str, path: str, body: Any) -> int:
        raise OSError("connection refused")

    with pytest.raises(broker_users.SetupError, match="did not answer within 0s"):
        broker_users.wait_for_api(down, 0, sleep=slept.append)
