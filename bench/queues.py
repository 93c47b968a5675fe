"""`python -m bench.queues [--messages 3000] [--cluster]`: what a quorum queue costs against a
classic one, publishing and consuming as the services do (persistent messages, each publish
confirmed; consumed with a prefetch window, each acked), on the machine's broker (one node)
and, with `--cluster`, on the three-node test cluster (tools/rabbit-cluster.sh).

Each row is one queue type on one broker: messages per second published, consumed, and the
ratio to the classic queue of the same broker measured in the same run (the baseline). Why
the default is quorum queues only on a cluster: docs/architecture.md "A broker cluster".
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass

from kombu import Connection, Queue

from bench.common import say
from tools import rabbit_cluster

LOCAL = "amqp://guest:guest@127.0.0.1:5672"
BODY = {"record_id": "0" * 24, "seq": 1, "stage": "package", "lines": ["x" * 80] * 20}


@dataclass
class Row:
    broker: str
    kind: str
    published: float  # messages per second
    consumed: float


def measure(uri: str, kind: str, messages: int) -> tuple[float, float]:
    arguments = {"x-queue-type": "quorum"} if kind == "quorum" else {}
    name = f"bench.queues.{kind}.{secrets.token_hex(3)}"
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        queue = Queue(name, durable=True, queue_arguments=arguments)(channel)
        queue.declare()
        producer = conn.Producer(channel)
        began = time.perf_counter()
        for _ in range(messages):
            producer.publish(BODY, routing_key=name, serializer="json", delivery_mode=2)
        published = messages / (time.perf_counter() - began)
        got = 0

        def take(_body: object, message: object) -> None:
            nonlocal got
            message.ack()  # type: ignore[attr-defined]
            got += 1

        consumer = conn.Consumer(queue, callbacks=[take])
        consumer.qos(prefetch_count=100)
        began = time.perf_counter()
        with consumer:
            while got < messages:
                conn.drain_events(timeout=30)
        consumed = messages / (time.perf_counter() - began)
        queue.delete()
    return published, consumed


def rows_of(broker: str, uri: str, messages: int) -> list[Row]:
    rows = []
    for kind in ("classic", "quorum"):
        published, consumed = measure(uri, kind, messages)
        rows.append(Row(broker, kind, published, consumed))
        say(f"{broker} {kind}: {published:,.0f} published/s, {consumed:,.0f} consumed/s")
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        f"{'broker':<20}{'queue':<9}{'published/s':>12}{'ratio':>7}{'consumed/s':>12}{'ratio':>7}"
    ]
    base = {r.broker: r for r in rows if r.kind == "classic"}
    for r in rows:
        b = base[r.broker]
        lines.append(
            f"{r.broker:<20}{r.kind:<9}{r.published:>12,.0f}{r.published / b.published:>7.2f}"
            f"{r.consumed:>12,.0f}{r.consumed / b.consumed:>7.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queues", description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--cluster", action="store_true", help="also on the test cluster")
    args = parser.parse_args(argv)
    vhost = f"cyclone-bench-queues-{secrets.token_hex(3)}"
    rows: list[Row] = []
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        rows += rows_of("one node", f"{LOCAL}/{vhost}", args.messages)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
    if args.cluster:
        rabbit_cluster.start()
        rabbit_cluster.add_vhost(vhost)
        try:
            # the first node of the list: publishing through a queue's leader or a follower
            rows += rows_of("three-node cluster", rabbit_cluster.uri(vhost), args.messages)
        finally:
            rabbit_cluster.delete_vhost(vhost)
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
