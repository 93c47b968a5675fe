"""nameko entrypoints of the logs service; each delegates to domain code in a line or two."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import eventlet
import kombu
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.messaging import Publisher, consume
from nameko.rpc import rpc

from services.logs import domain
from services.logs.store import LogStore, StoreRejected, StoreUnavailable
from shared import mongo, workertoken
from shared.contracts import events, logs, services
from shared.contracts.rpc import LogChunk
from shared.mongo import MongoDatabase
from shared.ping import PingMixin

log = logging.getLogger(__name__)

# Declared exactly as the worker declares them, so whichever side comes first creates them.
LOG_EXCHANGE = kombu.Exchange(logs.EXCHANGE, type="direct", durable=True)
LOG_QUEUE = kombu.Queue(logs.QUEUE, LOG_EXCHANGE, routing_key=logs.ROUTING_KEY, durable=True)
LIVE_EXCHANGE = kombu.Exchange(logs.LIVE_EXCHANGE, type="topic", durable=True)

# Pauses between store attempts inside one delivery (20 s, plus up to 10 s of server selection
# per attempt while the database is away); after the last attempt the handler raises and the
# message goes back to the queue, so even a long outage loses nothing.
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0)

T = TypeVar("T")


def with_retries(what: str, attempt: Callable[[], T]) -> T:
    """Run `attempt`, retrying while the store is unavailable; re-raise the last failure."""
    for delay in RETRY_DELAYS:
        try:
            return attempt()
        except StoreUnavailable as exc:
            log.warning("%s failed (%s); retrying in %ss", what, exc, delay)
            eventlet.sleep(delay)
    return attempt()


class Store(MongoDatabase):
    """The service's LogStore over the shared Mongo client; its index is made at start."""

    def setup(self) -> None:
        super().setup()
        self.store = LogStore(self.database)

    def start(self) -> None:
        self.store.ensure_indexes()

    def get_dependency(self, worker_ctx: Any) -> LogStore:
        return self.store


class Tokens(DependencyProvider):
    """The worker tokens (shared/workertoken.py) made from the stack's secret key."""

    def setup(self) -> None:
        self.tokens = workertoken.tokens_or_none(mongo.settings_of(self.container).secret_key)

    def get_dependency(self, worker_ctx: Any) -> workertoken.WorkerTokens | None:
        return self.tokens


class LogsService(PingMixin):
    """Owns log lines: ingests worker log streams and serves stored logs."""

    name = services.LOGS

    store: LogStore = Store()
    tokens: workertoken.WorkerTokens | None = Tokens()
    live = Publisher(exchange=LIVE_EXCHANGE, delivery_mode=1)  # transient: followers only

    # nameko acks after the handler returns, and (with requeue_on_error) requeues when it
    # raises; without that flag a failed store would be acked and the lines lost.
    @consume(LOG_QUEUE, requeue_on_error=True)
    def ingest(self, body: Any) -> None:
        if not workertoken.batch_signed(self.tokens, body):
            record_id = body.get("record_id") if isinstance(body, dict) else None
            log.warning("dropping a log batch of %r not signed by its worker", record_id)
            return
        try:
            batch = domain.parse_batch(body)
        except domain.InvalidBatch as exc:
            log.error("dropping a message from %s: %s", logs.QUEUE, exc)
            return
        try:
            with_retries(
                f"storing {batch['record_id']}:{batch['seq']}", lambda: self.store.add(batch)
            )
        except StoreRejected as exc:
            log.error("dropping batch %s:%s: %s", batch["record_id"], batch["seq"], exc)
            return
        if batch.get("eof"):
            log.info("log complete: %d lines", batch["seq"] - 1)
        self._announce(batch)

    def _announce(self, batch: Any) -> None:
        """Tell live followers; a lost announcement only delays them (they re-read storage)."""
        try:
            self.live(dict(batch), routing_key=batch["record_id"])
        except Exception:  # noqa: BLE001 - the batch is stored; followers poll as a fallback
            log.warning("could not announce %s:%s", batch["record_id"], batch["seq"])

    @rpc(expected_exceptions=ValueError)
    def read_log(
        self, record_id: str, stage: str | None, task: str | None, after: int, limit: int
    ) -> LogChunk:
        domain.check_filter(record_id, stage, task)
        domain.check_read(after, limit)
        return self.store.read(record_id, stage, task, after, limit)

    @rpc(expected_exceptions=ValueError)
    def log_stages(self, record_id: str) -> list[str]:
        domain.check_filter(record_id, None, None)
        return self.store.stages(record_id)

    @event_handler(*events.RECORDS_DELETED, requeue_on_error=True)
    def records_deleted(self, payload: events.RecordsDeleted) -> None:
        ids = payload.get("record_ids") if isinstance(payload, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            log.error(
                "ignoring %s without a list of record ids: %r", events.RECORDS_DELETED, payload
            )
            return
        removed = with_retries("deleting logs", lambda: self.store.delete(ids))
        log.info("deleted %d log chunks of %d records", removed, len(ids))
