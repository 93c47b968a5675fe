"""The worker on the bus with kombu alone, in nameko's wire format (events and RPC calls).

nameko's standalone helpers import eventlet, and importing eventlet costs a worker's start
0.3-0.5 s on these machines (bench/runs.py, "python start"); a record's first stage waits for
it. What the worker needs of nameko's protocol is small and fixed: an event is a persistent
JSON message on the topic exchange `<source>.events` with the event type as routing key; a
call is a JSON `{"args", "kwargs"}` on the topic exchange `nameko-rpc` with routing key
`<service>.<method>`, `reply_to` and `correlation_id`, answered on `nameko-rpc` under the
`reply_to` key with `{"result", "error"}`. Errors come back as the contract's exception types
(shared/contracts/errors.py registers them with nameko's deserializer).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import amqp
from amqp.exceptions import AMQPError, MessageNacked
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import KombuError
from kombu.serialization import loads
from nameko.exceptions import deserialize  # no eventlet on this path

import shared.contracts.errors  # noqa: F401 - registers the contract's exceptions

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)
PERSISTENT = 2
# A publish is tried again MAX_RETRIES times, paced by retry_pause: about 16 s in all
MAX_RETRIES = 10
RETRY_FIRST, RETRY_STEP, RETRY_MAX = 0.2, 0.5, 2.0  # seconds
CONFIRM_TIMEOUT = 30.0  # seconds without a confirm before the connection is taken as broken
REPLY_TYPES = {"application/json"}  # nameko answers in JSON; nothing else is decoded
# What a broken or refused connection raises (TimeoutError, no answer, is an OSError), and
# a publish the broker refused (amqp raises a nack as MessageNacked, no AMQPError)
BROKER_ERRORS = (OSError, KombuError, AMQPError, MessageNacked)


def retry_pause(attempt: int) -> None:
    """The wait after failed try `attempt` (from 0) of a publish: longer each time, bounded."""
    time.sleep(min(RETRY_FIRST + attempt * RETRY_STEP, RETRY_MAX))


def event_exchange(source: str) -> Exchange:
    """As nameko declares it (a different declaration would be refused by the broker)."""
    return Exchange(f"{source}.events", type="topic", durable=True, delivery_mode=PERSISTENT)


class EventSender:
    """Publishes events with publisher confirms over one connection (thread-safe).

    It recovers on its own rather than with kombu's `Connection.ensure`: a publish that gave
    up there (the broker away for longer than its retries) left the producer on the broken
    connection's channel, and every later event failed at once with "channel is None and
    entity ... not bound" (a worker lost its RUN_FINISHED so in the broker failover test).
    Here any broker error drops the connection and its producer, and the next try opens
    both anew, on the next node of a cluster URI."""

    def __init__(
        self, amqp_uri: str, retries: int = MAX_RETRIES, confirm_timeout: float = CONFIRM_TIMEOUT
    ) -> None:
        self._conn = Connection(
            amqp_uri, transport_options={"confirm_publish": True}, connect_timeout=10
        )
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self.retries = retries
        # a confirm that never comes (a peer lost without a word) ends the wait, as a broken
        # connection would: the event goes again on a new one
        self.confirm_timeout = confirm_timeout
        self.recoveries = 0  # connections dropped after an error (tests read it)

    def __call__(self, source: str, event_type: str, payload: Mapping[str, object]) -> None:
        exchange = event_exchange(source)
        with self._lock:
            for attempt in range(self.retries + 1):
                try:
                    self._open().publish(
                        dict(payload),
                        exchange=exchange,
                        routing_key=event_type,
                        serializer="json",
                        delivery_mode=PERSISTENT,
                        declare=[exchange],
                        confirm_timeout=self.confirm_timeout,
                    )
                    return
                except BROKER_ERRORS:
                    # A broken connection, a channel the broker closed, or a nack (a quorum
                    # queue whose leader is moving to another node; without a new try a
                    # worker lost its stage's end in 2 of 22 failover test runs). The event
                    # goes again, as a broker restart would have it sent: the scheduler
                    # takes an event twice safely.
                    self._drop()
                    if attempt == self.retries:
                        raise
                retry_pause(attempt)

    def _open(self) -> Producer:
        if self._producer is None:
            self._conn.ensure_connection(max_retries=0)  # one try: the caller paces the next
            self._producer = Producer(self._conn.default_channel)
        return self._producer

    def _drop(self) -> None:
        """Forget the connection without talking to it (it may be gone) and move to the
        URI's next host, as kombu does on a connection error."""
        self.recoveries += 1
        self._producer = None
        self._conn.collect()
        self._conn.maybe_switch_next()

    def close(self) -> None:
        with self._lock:
            self._conn.release()


def consume_replies(
    channel: amqp.Channel, reply_to: str, answered: Callable[[str, object], None]
) -> None:
    """Declare a caller's reply queue and consume it; `answered(correlation_id, body)` gets
    each reply, decoded.

    The exchange, the queue, its binding and the consume go without waiting for each answer
    (a record's way to its first stage waited for them: 2.1-2.3 ms on an idle broker for the
    consume's alone, 0.2 without): the broker handles a channel's commands in order, so a
    request published after them is answered into a queue that is bound and consumed; a
    refusal closes the channel, which the caller's next wait raises. The consumer goes with
    the connection (no basic.cancel to wait for), and takes replies without acks (the queue
    is its caller's alone)."""
    queue = Queue(
        f"rpc.reply-cyclone-worker-{reply_to}",
        RPC_EXCHANGE,
        routing_key=reply_to,
        exclusive=True,
        auto_delete=True,
    )
    queue(channel).declare(nowait=True)

    def on_reply(message: amqp.Message) -> None:
        properties = message.properties
        correlation_id = properties.get("correlation_id")
        if isinstance(correlation_id, str):
            body = loads(
                message.body,
                properties.get("content_type", ""),
                properties.get("content_encoding", ""),
                accept=REPLY_TYPES,
            )
            answered(correlation_id, body)

    channel.basic_consume(
        queue=queue.name, consumer_tag=reply_to, callback=on_reply, no_ack=True, nowait=True
    )


def call(
    amqp_uri: str,
    service: str,
    method: str,
    args: Sequence[object],
    timeout: float,
) -> Any:
    """One RPC call; raises the callee's error, or TimeoutError without an answer in time.
    The result is the callee's JSON, as its contract (shared/contracts) says."""
    reply_to = uuid.uuid4().hex
    correlation_id = uuid.uuid4().hex
    answer: dict[str, object] = {}

    def answered(replied_to: str, body: object) -> None:
        if replied_to == correlation_id:
            answer["body"] = body

    conn = Connection(amqp_uri, connect_timeout=min(timeout, 10))
    try:
        channel = conn.channel()
        consume_replies(channel, reply_to, answered)
        Producer(channel).publish(
            {"args": list(args), "kwargs": {}},
            exchange=RPC_EXCHANGE,
            routing_key=f"{service}.{method}",
            reply_to=reply_to,
            correlation_id=correlation_id,
            serializer="json",
        )
        try:
            while "body" not in answer:
                conn.drain_events(timeout=timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{service}.{method} did not answer in {timeout:g}s") from exc
    finally:
        # Closing waits for the broker to close the channel and drop the reply queue (about
        # 40 ms here): the answer is had, so the caller does not wait for that.
        threading.Thread(target=_close, args=(conn,), daemon=True, name="rpc-close").start()
    return _result(answer["body"])


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # the socket goes with the process anyway
        conn.release()


def _result(body: object) -> Any:
    """A reply's result; raises the error it carries instead."""
    reply = body if isinstance(body, dict) else {}
    if reply.get("error"):
        raise deserialize(reply["error"])
    return reply.get("result")


class RpcSession:
    """Many calls over one connection and one reply queue, several in flight at once.

    `call` opens a connection per call, which is right for the few calls of a run; an
    artifact moves in one call per chunk, so it keeps `send`s in flight (a window) and
    `wait`s for each answer in turn. Not thread-safe: one stage's thread uses it.
    """

    def __init__(self, amqp_uri: str, timeout: float = 120.0) -> None:
        self._uri = amqp_uri
        self.timeout = timeout
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._reply_to = uuid.uuid4().hex
        self._answers: dict[str, object] = {}

    def _open(self) -> Producer:
        if self._producer is None:
            self._conn = Connection(self._uri, connect_timeout=10)
            channel = self._conn.channel()
            consume_replies(channel, self._reply_to, self._answers.__setitem__)
            self._producer = Producer(channel)
        return self._producer

    def send(self, service: str, method: str, args: Sequence[object]) -> str:
        """Publish a call; returns the id to `wait` for."""
        producer = self._open()
        correlation_id = uuid.uuid4().hex
        self._answers.pop(correlation_id, None)
        producer.publish(
            {"args": list(args), "kwargs": {}},
            exchange=RPC_EXCHANGE,
            routing_key=f"{service}.{method}",
            reply_to=self._reply_to,
            correlation_id=correlation_id,
            serializer="json",
            declare=[RPC_EXCHANGE],
        )
        return correlation_id

    def wait(self, correlation_id: str, what: str = "the call") -> Any:
        """The call's result; raises the callee's error, or TimeoutError."""
        assert self._conn is not None, "wait before send"
        try:
            while correlation_id not in self._answers:
                self._conn.drain_events(timeout=self.timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{what} got no answer in {self.timeout:g}s") from exc
        return _result(self._answers.pop(correlation_id))

    def call(self, service: str, method: str, args: Sequence[object]) -> Any:
        return self.wait(self.send(service, method, args), f"{service}.{method}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.release()
        self._conn = self._producer = None
