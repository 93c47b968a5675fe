"""Event handlers and consumers that never ack what they did not do.

nameko acks a message whose handler raised (or requeues it at once, in a hot loop, with
`requeue_on_error`). These entrypoints instead hand a failed message to a delay queue and ack
it only once the broker has it: after `delays[n]` seconds it comes back to the handler's own
queue for try n + 2. When every delay is spent, or at once when the handler raises `Poison`
(no retry can fix it), the message goes to its service's dead-letter queue
`cyclone.dead.<service>`, counted in `/metrics` and listed by `python -m tools.deadletters`.

The broker does the waiting, so a service restart loses no retry: a delay queue per delay
(`cyclone.retry.<ms>ms`, a queue-wide TTL, reached through a headers exchange) dead-letters
expired messages to a direct exchange where each handler queue is bound by its own name.

A handler under these entrypoints must be idempotent: a message can be handled again after a
crash between the work and the ack, and a retry follows a try that may have done part of it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

from kombu import Exchange, Queue
from kombu.message import Message
from nameko.amqp.publish import get_connection, get_producer
from nameko.events import EventHandler
from nameko.messaging import Consumer

from shared import brokers, metrics
from shared.contracts import events
from shared.contracts.boundary import MalformedPayload, check

log = logging.getLogger(__name__)

DELAYS: Final = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)  # seconds before try 2, 3, ...
DELAYS_CONFIG_KEY: Final = "RETRY_DELAYS"  # nameko config: other delays (tests: short ones)

ATTEMPT_HEADER: Final = "x-cyclone-attempt"  # tries made so far (absent: none)
DELAY_HEADER: Final = "cyclone-delay-ms"  # picks the delay queue (no x-: the headers
# exchange leaves x- headers out of its matching)
QUEUE_HEADER: Final = "x-cyclone-queue"  # a dead letter's queue, for a replay
ERROR_HEADER: Final = "x-cyclone-error"  # a dead letter's last error, one line

WAIT_EXCHANGE: Final = Exchange("cyclone.retry.wait", type="headers", durable=True)
RETURN_EXCHANGE: Final = Exchange("cyclone.retry.return", type="direct", durable=True)
DEAD_EXCHANGE: Final = Exchange("cyclone.dead", type="direct", durable=True)
ExcInfo = tuple[type[BaseException], BaseException, TracebackType]
AmqpHeaders = dict[str, object]  # an AMQP table: values of any AMQP type


class Poison(Exception):
    """Raised by a handler for a message no retry can fix (malformed, out of range): it goes
    to the dead-letter queue at once, with this error."""


def delay_queue(ms: int, quorum: bool = False) -> Queue:
    arguments: AmqpHeaders = {"x-message-ttl": ms, "x-dead-letter-exchange": RETURN_EXCHANGE.name}
    if quorum:  # a quorum queue drops what it dead-letters unless told to keep it until taken
        arguments["x-dead-letter-strategy"] = "at-least-once"
        arguments["x-overflow"] = "reject-publish"
    queue = Queue(
        f"cyclone.retry.{ms}ms",
        exchange=WAIT_EXCHANGE,
        binding_arguments={"x-match": "all", DELAY_HEADER: ms},
        durable=True,
        queue_arguments=arguments,
    )
    return brokers.durable(queue, quorum)


def dead_letter_queue(service: str, quorum: bool = False) -> Queue:
    name = f"cyclone.dead.{service}"
    queue = Queue(name, exchange=DEAD_EXCHANGE, routing_key=service, durable=True)
    return brokers.durable(queue, quorum)


def delays_of(config: Mapping[str, object]) -> tuple[int, ...]:
    """The delays in milliseconds, from the nameko config or the defaults."""
    configured = config.get(DELAYS_CONFIG_KEY)
    delays = configured if isinstance(configured, (list, tuple)) and configured else DELAYS
    return tuple(max(1, round(float(s) * 1000)) for s in delays)


def attempts_of(message: Message) -> int:
    try:
        return max(0, int((message.headers or {}).get(ATTEMPT_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


def declare(
    amqp_uri: str, queue: Queue, service: str, delays_ms: Sequence[int], quorum: bool = False
) -> None:
    """The delay queues, the service's dead-letter queue, and `queue` bound to come back."""
    with get_connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            for ms in delays_ms:
                delay_queue(ms, quorum)(channel).declare()
            dead_letter_queue(service, quorum)(channel).declare()
            bound = queue(channel)
            bound.declare()
            RETURN_EXCHANGE(channel).declare()
            bound.bind_to(RETURN_EXCHANGE, routing_key=queue.name)
        finally:
            channel.close()


def _own_headers(message: Message) -> AmqpHeaders:
    """The message's headers without the broker's dead-lettering history (`x-death`, ...):
    kept, RabbitMQ would take the next expiry for a dead-letter cycle and drop the message."""
    return {
        k: v
        for k, v in (message.headers or {}).items()
        if k != "x-death" and not k.startswith(("x-first-death", "x-last-death"))
    }


class _Redelivering:
    """What both entrypoints add to nameko's: a failed message is retried later, then
    dead-lettered, and acked only once the broker holds it again."""

    queue: Queue
    container: Any
    method_name: str
    queue_consumer: Any

    def _declare_redelivery(self) -> None:
        self._delays_ms = delays_of(self.container.config)
        self._amqp_uri = self.container.config["AMQP_URI"]
        quorum = brokers.quorum_in(self.container.config)
        self.queue = brokers.durable(self.queue, quorum)  # what nameko consumes from, too
        declare(self._amqp_uri, self.queue, self.container.service_name, self._delays_ms, quorum)
        # zero from the start, so a dashboard or an alert sees 0 rather than no series
        metrics.REDELIVERIES.labels(self.container.service_name, self.queue.name)
        metrics.DEAD_LETTERS.labels(self.container.service_name, self.queue.name)

    def handle_message_processed(
        self, message: Message, result: Any = None, exc_info: ExcInfo | None = None
    ) -> None:
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return
        try:
            self._hand_on(message, exc_info[1])
        except Exception:  # noqa: BLE001 - the broker is away: the message stays ours
            log.warning("could not hand on a failed message of %s; requeued", self.queue.name)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _hand_on(self, message: Message, exc: BaseException) -> None:
        tries = attempts_of(message) + 1
        service = self.container.service_name
        headers = {**_own_headers(message), ATTEMPT_HEADER: tries}
        if isinstance(exc, Poison | MalformedPayload) or tries > len(self._delays_ms):
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            headers.update({QUEUE_HEADER: self.queue.name, ERROR_HEADER: error[:1000]})
            headers.pop(DELAY_HEADER, None)
            self._publish(message, headers, DEAD_EXCHANGE, service)
            metrics.DEAD_LETTERS.labels(service, self.queue.name).inc()
            log.error(
                "dead-lettered a message of %s after %d tries: %s", self.queue.name, tries, error
            )
            return
        delay_ms = self._delays_ms[tries - 1]
        headers[DELAY_HEADER] = delay_ms
        self._publish(message, headers, WAIT_EXCHANGE, self.queue.name)
        metrics.REDELIVERIES.labels(service, self.queue.name).inc()
        log.warning(
            "%s failed (try %d: %s); again in %.1f s", self.method_name, tries, exc, delay_ms / 1000
        )

    def _publish(
        self, message: Message, headers: AmqpHeaders, exchange: Exchange, routing_key: str
    ) -> None:
        """The message as it came (its body bytes untouched), with confirms."""
        with get_producer(self._amqp_uri) as producer:
            producer.publish(
                message.body,
                exchange=exchange,
                routing_key=routing_key,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
                retry=False,
                mandatory=False,
            )


class RedeliveringEventHandler(_Redelivering, EventHandler):  # type: ignore[misc]  # nameko ships no type information
    """Also checks each payload against its event's contract (shared/contracts/events.py
    `PAYLOADS`) before a worker is spawned: a malformed one goes to the dead-letter queue at
    once, with the field that broke it, and the handler never sees it."""

    source_service: str
    event_type: str

    def setup(self) -> None:
        super().setup()  # nameko names and makes the queue
        self._declare_redelivery()

    def handle_message(self, body: object, message: Message) -> None:
        contract = events.PAYLOADS.get((self.source_service, self.event_type))
        if contract is not None:
            try:
                check(contract, body, f"{self.source_service}.{self.event_type} event")
            except MalformedPayload as exc:
                self.handle_message_processed(message, None, (type(exc), exc, exc.__traceback__))  # type: ignore[arg-type]  # a raised exception always has its traceback
                return
        super().handle_message(body, message)


class RedeliveringConsumer(_Redelivering, Consumer):  # type: ignore[misc]  # nameko ships no type information
    def setup(self) -> None:
        super().setup()
        self._declare_redelivery()


event_handler = RedeliveringEventHandler.decorator
consume = RedeliveringConsumer.decorator
