"""The worker's kombu-only bus client against real nameko services on a real broker: its
events reach nameko handlers, its calls get nameko's answers and errors."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection, Queue

from services.worker import bus
from shared.contracts.errors import NotFound
from tests.netcut import CutProxy
from tests.support import ROOT

SERVICE = textwrap.dedent(
    """
    import eventlet
    eventlet.monkey_patch()
    import json, sys
    from nameko.events import event_handler
    from nameko.rpc import rpc
    from nameko.runners import ServiceRunner
    from shared.contracts.errors import NotFound

    class Echo:
        name = "busecho"

        @rpc(expected_exceptions=NotFound)
        def echo(self, value):
            if value == "missing":
                raise NotFound("no such thing")
            return {"echo": value}

        @event_handler("busworker", "said")
        def said(self, payload):
            print(json.dumps(payload), flush=True)

    runner = ServiceRunner({"AMQP_URI": sys.argv[1]})
    runner.add_service(Echo)
    runner.start()
    print("ready", flush=True)
    runner.wait()
    """
)


@pytest.fixture(scope="module")
def service(amqp_uri: str) -> Iterator[tuple[str, subprocess.Popen]]:
    uri = amqp_uri
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVICE, uri],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield uri, proc
    proc.terminate()
    proc.wait(10)


def test_a_call_gets_the_result_and_the_contract_error(service):
    uri, _ = service
    assert bus.call(uri, "busecho", "echo", ["hi"], 10) == {"echo": "hi"}
    with pytest.raises(NotFound, match="no such thing"):
        bus.call(uri, "busecho", "echo", ["missing"], 10)


def test_a_call_nobody_answers_times_out(service):
    uri, _ = service
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        bus.call(uri, "nobody", "there", [], 0.5)
    assert time.monotonic() - began < 3


def test_events_reach_a_nameko_handler(service):
    uri, proc = service
    sender = bus.EventSender(uri)
    sender("busworker", "said", {"n": 1})
    sender("busworker", "said", {"n": 2})
    sender.close()
    assert proc.stdout is not None
    assert [proc.stdout.readline().strip() for _ in range(2)] == ['{"n": 1}', '{"n": 2}']


def test_an_event_the_broker_nacks_is_sent_again_until_taken(amqp_uri: str):
    """RabbitMQ nacks a publish to a full `reject-publish` queue, as it does while a quorum
    queue's leader moves to another node: the sender tries again instead of losing it."""
    name = f"bus-nack-{time.monotonic_ns()}"
    full = Queue(
        name,
        bus.event_exchange("busnack"),
        routing_key="said",
        queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
        auto_delete=False,
    )
    with Connection(amqp_uri) as conn:
        full(conn.default_channel).declare()
        sender = bus.EventSender(amqp_uri)
        try:
            sender("busnack", "said", {"n": 1})  # fills the queue
            taken: list[object] = []

            def make_room() -> None:
                time.sleep(0.5)  # the second event is nacked at least once meanwhile
                message = full(conn.default_channel).get(no_ack=True)
                taken.append(message.payload if message else None)

            room = threading.Thread(target=make_room)
            room.start()
            began = time.monotonic()
            sender("busnack", "said", {"n": 2})  # nacked until there is room
            room.join()
            assert time.monotonic() - began >= 0.5
            assert taken == [{"n": 1}]
            left = full(conn.default_channel).get(no_ack=True)
            assert left is not None and left.payload == {"n": 2}
        finally:
            sender.close()
            full(conn.default_channel).delete()


@contextlib.contextmanager
def _sending(
    amqp_uri: str, uri: str, **options: float
) -> Iterator[tuple[Callable[[int], None], bus.EventSender, Callable[[], list[object]]]]:
    """An EventSender on `uri` (through the proxy), a `send(n)` of event "said" {"n": n},
    and a `taken()` of the payloads that reached a queue bound for them (read directly)."""
    source = f"buscut{time.monotonic_ns()}"
    queue = Queue(f"bus-cut-{source}", bus.event_exchange(source), routing_key="said")
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
        sender = bus.EventSender(uri, **options)  # type: ignore[arg-type]

        def taken() -> list[object]:
            payloads = []
            while (message := queue(conn.default_channel).get(no_ack=True)) is not None:
                payloads.append(message.payload)
            return payloads

        try:
            yield (lambda n: sender(source, "said", {"n": n})), sender, taken
        finally:
            sender.close()
            queue(conn.default_channel).delete()


def test_events_after_a_send_that_gave_up_go_on_a_new_connection(
    amqp_uri: str, cut_proxy: tuple[CutProxy, str]
):
    """A send that runs out of tries raises; the sender is not left on the dead connection:
    once the broker is back, the next event goes (kombu's `ensure` left the producer on the
    broken channel, and every later event failed at once, a worker's RUN_FINISHED among
    them)."""
    proxy, uri = cut_proxy
    with _sending(amqp_uri, uri, retries=1) as (send, sender, taken):
        send(1)
        proxy.cut()
        with pytest.raises(bus.BROKER_ERRORS):
            send(2)
        proxy.reopen()
        send(3)
        assert taken() == [{"n": 1}, {"n": 3}]
        assert sender.recoveries >= 2


def test_an_event_sent_while_the_broker_is_away_goes_when_it_is_back(
    amqp_uri: str, cut_proxy: tuple[CutProxy, str]
):
    proxy, uri = cut_proxy
    with _sending(amqp_uri, uri) as (send, sender, taken):
        send(1)
        proxy.cut()
        threading.Timer(1.5, proxy.reopen).start()
        send(2)  # tried again until the broker is back
        assert taken() == [{"n": 1}, {"n": 2}]
        assert sender.recoveries >= 1


@pytest.mark.timeout(60)
def test_an_event_whose_confirm_never_comes_goes_again_on_a_new_connection(
    amqp_uri: str, cut_proxy: tuple[CutProxy, str]
):
    """The connection goes silent, open (a peer lost without a word): the publish does not
    wait for its confirm for ever; the event goes again on a new connection."""
    proxy, uri = cut_proxy
    with _sending(amqp_uri, uri, confirm_timeout=1.0) as (send, sender, taken):
        send(1)
        proxy.stall()
        began = time.monotonic()
        send(2)
        assert 1.0 <= time.monotonic() - began < 10
        assert sender.recoveries == 1
        payloads = taken()
        # a copy when the stalled publish reached the broker before the silence: the
        # scheduler takes an event twice safely
        assert payloads[0] == {"n": 1} and {"n": 2} in payloads[1:], payloads
