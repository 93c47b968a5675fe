"""`python -m tools.queues convert` rebuilds Cyclone's queues with the other type (RabbitMQ
cannot change it in place), on the real broker: messages, their headers, the queues' own
arguments and their bindings survive, there and back; a queue with a consumer is refused."""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue

from shared import redelivery
from tools import queues

EVENTS = Exchange("probe.events", type="topic", durable=True)
HANDLER = "evt-probe-poke--probe.handle"


def declare_as_a_classic_install(uri: str) -> None:
    with Connection(uri) as conn:
        channel = conn.channel()
        Queue(HANDLER, EVENTS, routing_key="poke", durable=True)(channel).declare()
        delay = redelivery.delay_queue(300)(channel)  # TTL, dead-letter exchange, header binding
        redelivery.WAIT_EXCHANGE(channel).declare()
        delay.declare()


def publish(uri: str, exchange: Exchange, key: str, n: int, **kwargs: object) -> None:
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for i in range(n):
            producer.publish(
                {"n": i}, exchange=exchange, routing_key=key, serializer="json", **kwargs
            )


def drain(uri: str, name: str) -> list[tuple[object, dict]]:
    got = []
    with Connection(uri) as conn:
        queue = Queue(name, no_declare=True)(conn.channel())
        while (message := queue.get(no_ack=False)) is not None:
            got.append((message.decode(), dict(message.headers or {})))
            message.ack()
    return got


def listed(uri: str) -> dict[str, queues.QueueInfo]:
    return {q.name: q for q in queues.ours(queues.brokers.vhost_of(uri), None)}


def test_queues_change_type_with_their_messages_arguments_and_bindings(
    amqp_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CYCLONE_AMQP_URI", amqp_uri)
    declare_as_a_classic_install(amqp_uri)
    publish(amqp_uri, EVENTS, "poke", 5, headers={"nameko.call_id_stack": "x"})
    before = listed(amqp_uri)
    assert before[HANDLER].kind == "classic" and before[HANDLER].messages == 5

    assert queues.main(["convert", "--to", "quorum"]) == 0
    after = listed(amqp_uri)
    assert {after[HANDLER].kind, after["cyclone.retry.300ms"].kind} == {"quorum"}
    # as the services declare it on a cluster: the declaration they make next is accepted
    wanted = redelivery.delay_queue(300, quorum=True).queue_arguments
    assert after["cyclone.retry.300ms"].arguments == {**wanted, "x-queue-type": "quorum"}
    assert not any(name.endswith(".converting") for name in after)
    out = capsys.readouterr().out
    assert f"{HANDLER}: classic -> quorum (5 messages kept)" in out
    assert "cyclone.retry.300ms: classic -> quorum (0 messages kept)" in out

    publish(amqp_uri, EVENTS, "poke", 1)  # the binding was made again
    got = drain(amqp_uri, HANDLER)
    assert [body["n"] for body, _ in got] == [0, 1, 2, 3, 4, 0]
    assert got[0][1]["nameko.call_id_stack"] == "x"

    assert queues.main(["convert", "--to", "classic"]) == 0  # and back
    assert {q.kind for q in listed(amqp_uri).values()} == {"classic"}


def test_a_queue_a_service_still_consumes_is_refused(
    amqp_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYCLONE_AMQP_URI", amqp_uri)
    name = "rpc-probe"
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = Queue(name, durable=True)(channel)
        queue.declare()
        consumer = conn.Consumer(queue, callbacks=[lambda *_: None])
        consumer.consume()
        assert queues.main(["convert", "--to", "quorum"]) == 1
        consumer.cancel()
        assert listed(amqp_uri)[name].kind == "classic"
        queue.delete()  # the module's other test converts what it finds
