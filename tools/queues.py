"""`python -m tools.queues list|convert`: Cyclone's durable queues and their type.

RabbitMQ cannot change a queue's type in place, and a service refuses to start against a
queue of the other type (its declaration fails). Switching an install to quorum queues (or
back: CYCLONE_QUORUM_QUEUES, shared/brokers.py) therefore rebuilds each queue, messages
kept, while every service is stopped:

    python -m tools.queues list                    # name, type, messages, consumers
    python -m tools.queues convert                 # each queue to the type the settings choose
    python -m tools.queues convert --to quorum     # or name it

For each queue of another type: its messages move to a holding queue `<name>.converting`,
the queue is deleted and declared again with the new type and its other arguments, its
bindings are made again, and the messages move back, each acked only once the broker
confirmed its copy. A queue with a consumer is refused (a service still runs). Listing uses
`rabbitmqctl` (`--node` for a node other than the local one); messages move over
CYCLONE_AMQP_URI. The steps and when to run it: docs/operations.md "Quorum queues".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field

from kombu import Connection, Exchange, Queue

from shared import brokers, config, redelivery

# Ours: nameko's RPC and event-handler queues, the log ingest queue, retries, dead letters.
PREFIXES = ("rpc-", "evt-", "cyclone.logs.", "cyclone.retry.", "cyclone.dead.")
HOLDING = ".converting"
RETRY_QUEUE = re.compile(r"cyclone\.retry\.(\d+)ms")
QUORUM_ONLY = ("x-dead-letter-strategy", "x-delivery-limit", "x-quorum-initial-group-size")


@dataclass
class QueueInfo:
    name: str
    kind: str  # classic, quorum, stream
    messages: int
    consumers: int
    arguments: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    source: str
    routing_key: str
    arguments: tuple[tuple[str, object], ...]


def _ctl(node: str | None, *args: str) -> list[dict[str, object]]:
    cmd = ["rabbitmqctl", "-q", *(("-n", node) if node else ()), *args, "--formatter", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: {(done.stdout + done.stderr).strip()}")
    return list(json.loads(done.stdout or "[]"))


def _table(raw: object) -> dict[str, object]:
    """rabbitmqctl's JSON for an AMQP table: a list of [key, type, value] or of pairs."""
    if isinstance(raw, dict):
        return dict(raw)
    table: dict[str, object] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, list) and len(item) >= 2:
            table[str(item[0])] = item[-1]
    return table


def ours(vhost: str, node: str | None) -> list[QueueInfo]:
    rows = _ctl(
        node, "list_queues", "-p", vhost, "name", "type", "messages", "consumers", "arguments"
    )
    found = [
        QueueInfo(
            str(r["name"]),
            str(r.get("type") or "classic"),
            int(str(r.get("messages") or 0)),
            int(str(r.get("consumers") or 0)),
            _table(r.get("arguments")),
        )
        for r in rows
    ]
    return sorted(
        (q for q in found if q.name.startswith(PREFIXES) and not q.name.endswith(HOLDING)),
        key=lambda q: q.name,
    )


def bindings_of(vhost: str, node: str | None, queue: str) -> list[Binding]:
    rows = _ctl(
        node,
        "list_bindings",
        "-p",
        vhost,
        "source_name",
        "destination_name",
        "destination_kind",
        "routing_key",
        "arguments",
    )
    return [
        Binding(str(r["source_name"]), str(r["routing_key"]), tuple(_table(r["arguments"]).items()))
        for r in rows
        if r["destination_name"] == queue and r["destination_kind"] == "queue" and r["source_name"]
    ]


def arguments_for(name: str, current: dict[str, object], quorum: bool) -> dict[str, object]:
    """The queue's arguments with the other type: as the services declare a retry queue (the
    two types dead-letter differently, shared/redelivery.py); for the others, their own kept
    and the type's own changed."""
    delay = RETRY_QUEUE.fullmatch(name)
    if delay:
        made = redelivery.delay_queue(int(delay.group(1)), quorum)
        return dict(made.queue_arguments or {})  # type: ignore[attr-defined]  # kombu sets it from a table, undeclared
    kept = {k: v for k, v in current.items() if k != "x-queue-type"}
    if quorum:
        return {**kept, **brokers.QUORUM_ARGUMENTS}
    return {k: v for k, v in kept.items() if k not in QUORUM_ONLY}


def _move(conn: Connection, source: Queue, target: str) -> int:
    """Every message of `source` to the queue `target`, each acked once confirmed."""
    moved = 0
    producer = conn.Producer()
    while (message := source.get(no_ack=False)) is not None:
        producer.publish(
            message.body,
            exchange="",
            routing_key=target,
            headers=message.headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=2,
            **{
                k: v
                for k, v in message.properties.items()
                if k in ("correlation_id", "reply_to", "expiration", "message_id", "priority")
            },
        )
        message.ack()
        moved += 1
    return moved


def _delete_empty(queue: Queue) -> None:
    """Delete a queue known to be empty (quorum queues refuse the if-empty flag: checked here,
    with every service stopped nothing adds to it meanwhile)."""
    left = queue.queue_declare(passive=True).message_count
    if left:
        raise SystemExit(f"{queue.name}: {left} messages arrived while converting; run it again")
    queue.delete()


def convert_one(uri: str, vhost: str, node: str | None, info: QueueInfo, quorum: bool) -> int:
    """Rebuild one queue with the other type; returns how many messages it carried over."""
    kind = {"x-queue-type": "quorum"} if quorum else {}
    holding = Queue(info.name + HOLDING, durable=True, queue_arguments=kind)
    bindings = bindings_of(vhost, node, info.name)
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        held = holding(channel)
        held.declare()
        old = Queue(info.name, durable=True, no_declare=True)(channel)
        carried = _move(conn, old, holding.name)
        _delete_empty(old)
        arguments = arguments_for(info.name, info.arguments, quorum)
        new = Queue(info.name, durable=True, queue_arguments=arguments)
        bound = new(channel)
        bound.declare()
        for b in bindings:
            bound.bind_to(
                Exchange(b.source, no_declare=True),
                routing_key=b.routing_key,
                arguments=dict(b.arguments) or None,
            )
        _move(conn, held, info.name)
        _delete_empty(held)
    return carried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.queues", description=__doc__)
    parser.add_argument("command", choices=("list", "convert"))
    parser.add_argument("--to", choices=("quorum", "classic"), help="default: the settings'")
    parser.add_argument("--node", help="the RabbitMQ node rabbitmqctl talks to (-n)")
    args = parser.parse_args(argv)
    settings = config.load()
    vhost = brokers.vhost_of(settings.amqp_uri)
    found = ours(vhost, args.node)
    if args.command == "list":
        for q in found:
            print(f"{q.name}\t{q.kind}\t{q.messages} messages\t{q.consumers} consumers")
        return 0
    quorum = args.to == "quorum" if args.to else settings.quorum_queues
    wanted = "quorum" if quorum else "classic"
    todo = [q for q in found if q.kind != wanted]
    busy = [q.name for q in todo if q.consumers]
    if busy:
        print(f"refused: stop every service first; consumed now: {', '.join(busy)}")
        return 1
    for q in todo:
        carried = convert_one(settings.amqp_uri, vhost, args.node, q, quorum)
        print(f"{q.name}: {q.kind} -> {wanted} ({carried} messages kept)")
    print(f"{len(todo)} converted, {len(found) - len(todo)} already {wanted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
