"""Real parts for the cloud service tests: a RabbitMQ vhost (`amqp_uri`), secantusdb
(`mongo_url`; both tests/conftest.py), the service process.

The service runs as `python -m services.cloud` with the stand-in worker command
(CYCLONE_LOCAL_WORKER_CMD); its exits are heard on `cloud.events` like any consumer would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from services.cloud.backends.hostworkers import is_worker_process
from tests.cloud.helpers import SECRET_KEY, STANDIN_COMMAND
from tests.support import ROOT
from tests.waiting import NotYet, wait_for


class CloudProcess:
    """`python -m services.cloud` in a subprocess, restartable."""

    def __init__(self, data_dir: Path, amqp_uri: str, mongo_url: str) -> None:
        self.data_dir = data_dir
        self.config = {"AMQP_URI": amqp_uri, "serializer": "json"}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CYCLONE_DATA_DIR": str(data_dir),
            "CYCLONE_AMQP_URI": amqp_uri,
            "CYCLONE_MONGO_URL": mongo_url,
            "CYCLONE_LOCAL_WORKER_CMD": json.dumps(STANDIN_COMMAND),
            "CYCLONE_SECRET_KEY": SECRET_KEY,
        }
        self.log_path = data_dir.parent / "cloud.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 30) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cloud"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc
        with ClusterRpcProxy(self.config, timeout=2) as cluster:

            def answers() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"cloud service exited:\n{self.log_tail()}")
                try:
                    return cluster.cloud.ping()["pid"] == proc.pid
                except Exception:  # noqa: BLE001 - not up yet (UnknownService, timeout)
                    return False

            try:
                wait_for(answers, wait, "the cloud service to answer")
            except NotYet:
                raise RuntimeError(f"cloud service not up:\n{self.log_tail()}") from None

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def kill_workers(self) -> None:
        """Stand-ins outlive the service by design; end the ones we started."""
        for seen in self.data_dir.glob("*.seen.json"):
            started = json.loads(seen.read_text())
            record_id = seen.name.split(".")[0]
            if is_worker_process(started["pid"], record_id):
                os.killpg(started["pgid"], signal.SIGKILL)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, amqp_uri, mongo_url) -> Iterator[CloudProcess]:
    data_dir = tmp_path_factory.mktemp("cloud") / "data"
    data_dir.mkdir()
    service = CloudProcess(data_dir, amqp_uri, mongo_url)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        service.kill_workers()


@pytest.fixture(scope="module")
def rpc(cloud: CloudProcess) -> Iterator[Any]:
    with ClusterRpcProxy(cloud.config, timeout=15) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def workers_collection(mongo_url: str) -> Iterator[Any]:
    with MongoClient(mongo_url) as client:
        yield client["cyclone"]["workers"]


class Exits:
    """WORKER_EXITED events, heard on a queue bound to `cloud.events` as any consumer's."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri)
        exchange = Exchange("cloud.events", type="topic", durable=True)
        self.queue = Queue(
            f"test-exits-{uuid.uuid4().hex}",
            exchange,
            routing_key="worker_exited",
            exclusive=True,
            auto_delete=True,
        )(self.connection.default_channel)
        exchange(self.connection.default_channel).declare()
        self.queue.declare()
        self.heard: list[dict[str, Any]] = []

    def of(self, record_id: str, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            while (message := self.queue.get(no_ack=True)) is not None:
                self.heard.append(message.payload)
            return next((e for e in self.heard if e["record_id"] == record_id), None)

        return wait_for(found, timeout, f"worker_exited of {record_id}")

    def close(self) -> None:
        self.connection.release()


@pytest.fixture(scope="module")
def exits(amqp_uri: str) -> Iterator[Exits]:
    listener = Exits(amqp_uri)
    yield listener
    listener.close()
