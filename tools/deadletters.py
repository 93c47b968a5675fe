"""`python -m tools.deadletters list|replay|purge`: the events no handler could take.

A message lands in `cyclone.dead.<service>` when every retry of its handler failed, or at
once when the handler called it poison (shared/redelivery.py). `list` shows each one (queue,
tries, last error, body) without taking it off the queue; `replay` puts them back on the queue
they came from, for a fresh round of tries (once the cause is fixed); `purge` deletes them.
The broker is CYCLONE_AMQP_URI, as for the services.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection, Queue
from kombu.message import Message

from shared import config, redelivery
from shared.contracts import services

BODY_SHOWN = 400  # characters of a body `list` prints


@dataclass(frozen=True)
class DeadLetter:
    service: str
    queue: str
    tries: int
    error: str
    body: str

    def line(self) -> str:
        body = self.body if len(self.body) <= BODY_SHOWN else self.body[:BODY_SHOWN] + "..."
        return f"{self.service}\t{self.queue}\ttries={self.tries}\t{self.error}\n  {body}"


def _letter(service: str, message: Message) -> DeadLetter:
    headers = message.headers or {}
    raw = message.body
    body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return DeadLetter(
        service,
        str(headers.get(redelivery.QUEUE_HEADER, "?")),
        redelivery.attempts_of(message),
        str(headers.get(redelivery.ERROR_HEADER, "")),
        body,
    )


def _dead_queue(conn: Connection, service: str) -> Queue | None:
    """The service's dead-letter queue if it exists, whatever its type (a passive
    declaration: classic on one broker, quorum on a cluster, see shared/brokers.py)."""
    queue = redelivery.dead_letter_queue(service)(conn.channel())
    try:
        queue.queue_declare(passive=True)
    except NotFound:  # the service never ran here (the broker closed that channel)
        return None
    return queue


def _messages(conn: Connection, service: str, limit: int) -> Iterator[Message]:
    """Up to `limit` messages of the service's queue, unacked: whatever the caller does not
    ack goes back to the queue when the channel closes."""
    queue = _dead_queue(conn, service)
    if queue is None:
        return
    for _ in range(limit):
        message = queue.get(no_ack=False)
        if message is None:
            return
        yield message


def list_letters(uri: str, names: list[str], limit: int) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    for service in names:
        with Connection(uri) as conn:  # closing it returns what was read
            found += [_letter(service, m) for m in _messages(conn, service, limit)]
    return found


def replay(uri: str, service: str, limit: int) -> int:
    """Each message back to its own queue with its tries reset; acked once the broker
    confirmed the copy (a crash in between replays it twice: handlers are idempotent)."""
    done = 0
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for message in _messages(conn, service, limit):
            headers: dict[str, Any] = dict(message.headers or {})
            target = headers.pop(redelivery.QUEUE_HEADER, None)
            if not target:
                continue  # left on the queue: nowhere to send it
            for name in (redelivery.ATTEMPT_HEADER, redelivery.ERROR_HEADER):
                headers.pop(name, None)
            producer.publish(
                message.body,
                exchange="",
                routing_key=str(target),
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
            )
            message.ack()
            done += 1
    return done


def purge(uri: str, service: str) -> int:
    with Connection(uri) as conn:
        queue = _dead_queue(conn, service)
        return int(queue.purge() or 0) if queue is not None else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deadletters", description=__doc__)
    parser.add_argument("command", choices=("list", "replay", "purge"))
    parser.add_argument("--service", action="append", help="only this service (repeatable)")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many per service")
    parser.add_argument("--json", action="store_true", help="list: one JSON object per line")
    args = parser.parse_args(argv)
    uri = config.load().amqp_uri
    names = args.service or list(services.RESIDENT)
    if args.command == "list":
        letters = list_letters(uri, names, args.limit)
        for letter in letters:
            print(json.dumps(letter.__dict__) if args.json else letter.line())
        if not args.json:
            print(f"{len(letters)} dead letters", file=sys.stderr)
        return 0
    for service in names:
        if args.command == "replay":
            print(f"{service}: {replay(uri, service, args.limit)} replayed")
        else:
            print(f"{service}: {purge(uri, service)} purged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
