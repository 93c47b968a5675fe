"""Real parts for the logs service tests: a fresh RabbitMQ vhost (`amqp_uri`), a secantusdb
server (`mongo`, tests/conftest.py), and the service itself as `python -m services.logs`
(stopped and started again by the restart tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from shared import workertoken
from shared.contracts import logs
from tests.support import ROOT, MongoProcess, die_with_parent, stop_process
from tests.waiting import wait_for

SECRET_KEY = "logs-tests-secret-key"
TOKENS = workertoken.WorkerTokens(SECRET_KEY)


class LogsProcess:
    """`python -m services.logs` with this module's broker and database."""

    def __init__(self, amqp_uri: str, mongo_url: str, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CYCLONE_AMQP_URI": amqp_uri,
            "CYCLONE_MONGO_URL": mongo_url,
            "CYCLONE_SECRET_KEY": SECRET_KEY,  # batches are checked against worker tokens
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def start(self, rpc: Any) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.logs"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

        def answers() -> bool:
            assert self.running, f"the logs service exited:\n{self.log_tail()}"
            try:
                return rpc.logs.ping()["status"] == "ok"
            except (UnknownService, RpcTimeout):
                return False

        wait_for(answers, 30, "the logs service to answer ping", every=0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        return stop_process(self.proc, sig)


@pytest.fixture(scope="module")
def rpc(amqp_uri: str) -> Iterator[Any]:
    proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=5)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def service(
    amqp_uri: str, mongo: MongoProcess, rpc: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LogsProcess]:
    proc = LogsProcess(amqp_uri, mongo.url, tmp_path_factory.mktemp("logs") / "service.log")
    proc.start(rpc)
    try:
        yield proc
    finally:
        if proc.running:
            stop_process(proc.proc)  # type: ignore[arg-type]


class Publisher:
    """What a worker does: declare the log exchange and queue, publish persistent JSON."""

    exchange = kombu.Exchange(logs.EXCHANGE, type="direct", durable=True)
    queue = kombu.Queue(logs.QUEUE, exchange, routing_key=logs.ROUTING_KEY, durable=True)

    def __init__(self, amqp_uri: str) -> None:
        self.conn = kombu.Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.producer = self.conn.Producer(serializer="json")
        self.queue(self.conn.default_channel).declare()

    def __call__(self, *batches: Any, sign: bool = True, **options: Any) -> None:
        """Publish batches signed as their record's worker would (`sign=False`: as they are)."""
        for batch in batches:
            if sign and isinstance(batch, dict) and isinstance(batch.get("record_id"), str):
                token = TOKENS.issue(batch["record_id"])
                batch = {**batch, workertoken.MAC_FIELD: workertoken.batch_mac(token, batch)}
            self.producer.publish(
                batch,
                exchange=self.exchange,
                routing_key=logs.ROUTING_KEY,
                delivery_mode=2,
                **options,
            )

    def close(self) -> None:
        self.conn.release()


@pytest.fixture(scope="module")
def publish(amqp_uri: str) -> Iterator[Publisher]:
    pub = Publisher(amqp_uri)
    try:
        yield pub
    finally:
        pub.close()
