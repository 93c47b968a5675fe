"""Live announcements of stored log batches, grouped per record (the logs service's side of
services/api/live.py).

Every stored batch is announced on the live exchange for the gateways that follow its record.
A message per batch cost the service about a fifth of its ingest (bench.logs with the
announcements left out: ~250,000 lines/s against ~190,000). The announcer instead takes every
batch stored since its last publish and sends one message per record, its batches in line order
(shared/contracts/logs.LiveBatches). Under a light load that is one batch per message, sent at
once; under a heavy one, tens per message.

Messages are encoded with orjson (shared/fastjson.py): kombu's encoder took about a quarter
of the service's CPU during an ingest. Announcements are transient and unconfirmed, and one
that is lost (the broker away) only delays followers: they read storage when live batches
stop or skip lines.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from eventlet.event import Event
from nameko.messaging import Publisher

from shared import fastjson
from shared.contracts.logs import LiveBatches, LogBatch

log = logging.getLogger(__name__)


def grouped(batches: list[LogBatch]) -> list[LiveBatches]:
    """One message per record, in the order each record first appears; its batches in line
    order (concurrent stores can end in another order, and a follower sends in line order)."""
    by_record: dict[str, list[LogBatch]] = {}
    for batch in batches:
        by_record.setdefault(batch["record_id"], []).append(batch)
    return [
        LiveBatches(record_id=rid, batches=sorted(some, key=lambda b: b["seq"]))
        for rid, some in by_record.items()
    ]


class Announcer(Publisher):
    """`announce(batch)` for the service's workers: queued, and published by one green thread
    of the container's (nameko's Publisher makes the connection and declares the exchange)."""

    def setup(self) -> None:
        super().setup()
        self._waiting: deque[LogBatch] = deque()
        self._ready = Event()
        self._stopped = False

    def start(self) -> None:
        self.container.spawn_managed_thread(self._run, identifier="live-announcer")

    def stop(self) -> None:
        self._stopped = True
        self._wake()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: object) -> Callable[[LogBatch], None]:
        return self.announce

    def announce(self, batch: LogBatch) -> None:
        self._waiting.append(batch)
        self._wake()

    def _wake(self) -> None:
        if not self._ready.ready():
            self._ready.send(None)

    def _run(self) -> None:
        while True:
            self._ready.wait()
            self._ready.reset()
            taken = [self._waiting.popleft() for _ in range(len(self._waiting))]
            for message in grouped(taken):
                self._publish(message)
            if self._stopped and not self._waiting:
                return

    def _publish(self, message: LiveBatches) -> None:
        try:
            self.publisher.publish(
                fastjson.dumps(message),
                exchange=self.exchange,
                routing_key=message["record_id"],
                **fastjson.CONTENT,
            )
        except Exception:  # noqa: BLE001 - the batches are stored; followers read storage
            log.warning(
                "could not announce %d batches of %s", len(message["batches"]), message["record_id"]
            )
