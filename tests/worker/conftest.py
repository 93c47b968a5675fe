"""Fixtures of the worker tests: an in-memory sink, a reader of what a worker sent on a RabbitMQ
vhost of our own, and jobs shaped like scheduler.get_job's answer (the real repositories are
tests/conftest.py's `git_repo` and `svn_repo`)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kombu import Connection, Exchange, Queue
from kombu.message import Message

from shared.contracts import logs, services
from tests.netcut import CutProxy
from tests.waiting import wait_for

RECORD_ID = "65f0c0ffee0000000000abcd"


class MemorySink:
    """Keeps what the runtime sends; not one of our services, just the other end of a pipe."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.times: list[float] = []  # when each line arrived (time.monotonic)
        self.timeline: list[tuple[str, str]] = []  # (what, stage): line, flush, end, events
        self.ended: str | None = None
        self._lock = threading.Lock()

    def line(self, stage: str, text: str) -> None:
        assert "\n" not in text
        with self._lock:
            self.lines.append((stage, text))
            self.times.append(time.monotonic())
            self.timeline.append(("line", stage))

    def flush(self) -> None:
        with self._lock:
            self.timeline.append(("flush", ""))

    def end(self, stage: str) -> int:
        with self._lock:
            self.ended = stage
            self.timeline.append(("end", stage))
            return len(self.lines)

    def event(self, event: tuple[str, str], payload: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event[1], dict(payload)))
            stage = payload.get("stage")  # RUN_FINISHED may carry a stage's end (a dict)
            self.timeline.append((event[1], stage if isinstance(stage, str) else ""))

    def text(self, stage: str | None = None) -> list[str]:
        return [t for s, t in self.lines if stage is None or s == stage]

    def finished(self, stage: str) -> dict[str, Any]:
        """The stage's end: its STAGE_FINISHED, or the one RUN_FINISHED carries."""
        ends = [p for k, p in self.events if k == "stage_finished"]
        ends += [p["stage"] for k, p in self.events if k == "run_finished" and "stage" in p]
        found = [p for p in ends if p["stage"] == stage]
        assert len(found) == 1, self.events
        return found[0]

    @property
    def run_finished(self) -> dict[str, Any]:
        found = [p for k, p in self.events if k == "run_finished"]
        assert len(found) == 1, self.events
        return found[0]


def make_job(
    url: str = "file:///nowhere",
    *,
    kind: str = "Github",
    ref: str = "",
    source_ref: str = "",
    stages: list[str] | None = None,
    unit: list[str] | None = None,
    package: list[str] | None = None,
    unit_extra: dict[str, Any] | None = None,
    package_extra: dict[str, Any] | None = None,
    env: list[dict[str, Any]] | None = None,
    scm: dict[str, Any] | None = None,
    record_name: str = "",
    dep_repos: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Job as the scheduler answers it (secrets decrypted)."""
    block = {"svn": "svn", "other": "otherCodeSource"}.get(kind.lower(), kind.lower())
    build_stages: dict[str, Any] = {
        "codeCheckout": {"mainRepo": {"type": kind, block: {"url": url, "ref": source_ref}}}
    }
    if dep_repos:
        build_stages["codeCheckout"]["depRepos"] = dep_repos
    if unit is not None:
        build_stages["unitTest"] = {"command": unit, "outputs": [], **(unit_extra or {})}
    if package is not None:
        build_stages["package"] = {"command": package, "outputs": [], **(package_extra or {})}
    if stages is None:
        stages = ["codeCheckout"] + [s for s in ("unitTest", "package") if s in build_stages]
    return {
        "record_id": RECORD_ID,
        "record_name": record_name,
        "project": {"name": "proj", "scm": scm or {"type": "Github", "server": "https://x"}},
        "pipeline": {
            "name": "pipe",
            "build": {
                "builderImage": {"image": "busybox", "envVars": env or []},
                "stages": build_stages,
            },
        },
        "params": {"ref": ref} if ref else {},
        "stages": stages,
    }


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


class Bus:
    """Reads what a worker sent on a test vhost: the log queue and the worker's events."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.conn = Connection(uri)
        self.log_queue = Queue(
            logs.QUEUE,
            Exchange(logs.EXCHANGE, type="direct", durable=True),
            routing_key=logs.ROUTING_KEY,
            durable=True,
        )
        events_exchange = Exchange(f"{services.WORKER}.events", type="topic", durable=True)
        self.events_queue = Queue(
            f"test-worker-events-{uuid.uuid4().hex[:8]}", events_exchange, routing_key="#"
        )
        channel = self.conn.default_channel
        self.log_queue(channel).declare()
        self.log_queue(channel).purge()
        self.events_queue(channel).declare()

    def _collect(
        self,
        queue: Queue,
        keep: Callable[[Message], bool],
        last: Callable[[Message], bool],
        timeout: float,
        what: str,
    ) -> list[Message]:
        """The messages of `queue` that `keep` wants, in queue order, up to and with the first
        one that is `last`; those after it stay in the queue for the next call."""
        bound = queue(self.conn.default_channel)
        found: list[Message] = []

        def complete() -> list[Message] | None:
            while not (found and last(found[-1])):
                msg = bound.get(no_ack=False)
                if msg is None:
                    return None
                msg.ack()
                if keep(msg):
                    found.append(msg)
            return found

        return wait_for(complete, timeout, what, every=0.02)

    def batches(self, record_id: str, timeout: float = 10) -> list[dict[str, Any]]:
        """Log messages of the record up to and with its end-of-log marker, in queue order."""
        found = self._collect(
            self.log_queue,
            lambda msg: msg.payload["record_id"] == record_id,
            lambda msg: bool(msg.payload.get("eof")),
            timeout,
            f"the log of {record_id} to its end-of-log marker",
        )
        for msg in found:
            assert msg.properties.get("delivery_mode") == 2, msg.properties
        return [msg.payload for msg in found]

    def first_batch(self, record_id: str, timeout: float = 10) -> dict[str, Any]:
        """The record's first log message, once it is on the queue."""
        (msg,) = self._collect(
            self.log_queue,
            lambda msg: msg.payload["record_id"] == record_id,
            lambda msg: True,
            timeout,
            f"a log message of {record_id}",
        )
        return msg.payload

    def events(self, record_id: str, until: str = "run_finished", timeout: float = 10) -> list:
        """(event type, payload) of the record, in order, up to the first `until` event."""
        found = self._collect(
            self.events_queue,
            lambda msg: msg.payload.get("record_id") == record_id,
            lambda msg: msg.delivery_info["routing_key"] == until,
            timeout,
            f"the {until} event of {record_id}",
        )
        return [(msg.delivery_info["routing_key"], msg.payload) for msg in found]

    def queued_events(self, record_id: str) -> list:
        """(event type, payload) of the record that are on the events queue now."""
        bound = self.events_queue(self.conn.default_channel)
        found = []
        while (msg := bound.get(no_ack=False)) is not None:
            msg.ack()
            if msg.payload.get("record_id") == record_id:
                found.append((msg.delivery_info["routing_key"], msg.payload))
        return found

    def close(self) -> None:
        self.events_queue(self.conn.default_channel).delete()
        self.conn.release()


@pytest.fixture
def bus(amqp_uri: str) -> Iterator[Bus]:
    reader = Bus(amqp_uri)
    yield reader
    reader.close()


@pytest.fixture
def cut_proxy(amqp_uri: str) -> Iterator[tuple[CutProxy, str]]:
    """A proxy to the broker the test can cut, and the URI that goes through it."""
    broker = urlsplit(amqp_uri)
    proxy = CutProxy((broker.hostname or "localhost", broker.port or 5672))
    yield proxy, proxy.via(amqp_uri)
    proxy.close()


def new_record_id() -> str:
    return uuid.uuid4().hex[:24]


def check_stream(batches: list[dict], record_id: str) -> list[tuple[str, str]]:
    """Every line with its stage, checking numbering: from 1, consecutive, the last batch
    and only it marked eof (on the last lines, or alone on none at total + 1)."""
    lines: list[tuple[str, str]] = []
    assert all(b.get("worker_mac") for b in batches), "every batch is signed"
    batches = [{k: v for k, v in b.items() if k != "worker_mac"} for b in batches]
    for batch in batches:
        assert batch["record_id"] == record_id
        assert batch["seq"] == len(lines) + 1, (batch["seq"], len(lines))
        assert set(batch) <= {"record_id", "seq", "stage", "lines", "eof"}, batch
        if batch is not batches[-1]:
            assert batch["lines"], "an empty batch was sent"
            assert not batch.get("eof"), "an end of log before the last batch"
        lines += [(batch["stage"], line) for line in batch["lines"]]
    assert batches[-1].get("eof") is True, "the log has no end"
    return lines
