"""API tests: HTTP against the session's real stack; the raw database is read only to prove
what is stored (encryption at rest, nothing changed by bad input)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue, binding

from shared.crypto import SecretBox
from tests.support import StackProcess
from tests.waiting import NotYet, wait_for


@pytest.fixture(scope="session")
def box(stack: StackProcess) -> SecretBox:
    return SecretBox((stack.data_dir / "secret-key").read_text().strip())


class EventTap:
    """A queue bound to the gateway's event exchange on the stack's vhost."""

    def __init__(self, uri: str) -> None:
        self._conn = Connection(uri)
        exchange = Exchange("api.events", type="topic", durable=True)
        # The deletion events only: saves (pipeline_saved, project_saved) are not what
        # these tests look for. A name of its own: not id(self), which the next tap often
        # gets, and whose declare could then find this exclusive queue not yet deleted.
        self._queue = Queue(
            f"test-tap-{uuid.uuid4().hex[:12]}",
            bindings=[
                binding(exchange, routing_key=key)
                for key in ("project_deleted", "pipeline_deleted")
            ],
            exclusive=True,
            auto_delete=True,
        )
        self._queue(self._conn.default_channel).declare()

    def collect(
        self,
        count: int,
        timeout: float = 10,
        where: Callable[[dict[str, Any]], bool] = lambda body: True,
    ) -> list[tuple[str, dict[str, Any]]]:
        """The first `count` events whose body is `where`; others are dropped. An event of an
        earlier test may come late (another gateway worker's outbox flusher publishes it), so
        a test names what is its own."""
        got: list[tuple[str, dict[str, Any]]] = []
        with self._conn.Consumer(self._queue, accept=["json"]) as consumer:

            def on_message(body: dict[str, Any], message: Any) -> None:
                if where(body):
                    got.append((message.delivery_info["routing_key"], body))
                message.ack()

            consumer.register_callback(on_message)

            def enough() -> bool:
                with contextlib.suppress(TimeoutError):
                    self._conn.drain_events(timeout=0.5)
                return len(got) >= count

            with contextlib.suppress(NotYet):  # fewer than `count`: the caller's assert says so
                wait_for(enough, timeout, f"{count} events", every=0)
        return got

    def close(self) -> None:
        self._conn.release()


@pytest.fixture
def events(stack: StackProcess) -> Iterator[EventTap]:
    tap = EventTap(stack.amqp_uri)
    yield tap
    tap.close()
