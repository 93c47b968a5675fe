"""nameko entrypoints of the logs service; each delegates to domain code in a line or two."""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import eventlet
import kombu
from nameko.extensions import DependencyProvider

from services.logs import artifacts, domain
from services.logs.artifact_store import ArtifactStore
from services.logs.live import Announcer
from services.logs.store import LogStore, StoreRejected, StoreUnavailable
from shared import metrics, mongo, timefmt, workertoken
from shared.contracts import artifacts as art
from shared.contracts import errors, events, logs, services
from shared.contracts.boundary import check
from shared.contracts.logs import LogBatch
from shared.contracts.rpc import LogChunk
from shared.ping import PingMixin
from shared.redelivery import Poison, consume, event_handler
from shared.rpcqueue import rpc

log = logging.getLogger(__name__)

# Declared exactly as the worker declares them, so whichever side comes first creates them.
LOG_EXCHANGE = kombu.Exchange(logs.EXCHANGE, type="direct", durable=True)
LOG_QUEUE = kombu.Queue(logs.QUEUE, LOG_EXCHANGE, routing_key=logs.ROUTING_KEY, durable=True)
LIVE_EXCHANGE = kombu.Exchange(logs.LIVE_EXCHANGE, type="topic", durable=True)

# Pauses between store attempts inside one delivery (20 s, plus up to 10 s of server selection
# per attempt while the database is away); after the last attempt the handler raises and the
# message is tried again later (shared/redelivery), so even a long outage loses nothing.
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


class Store(mongo.MongoDatabase):
    """The service's LogStore over its Mongo client; its index is made at start."""

    def setup(self) -> None:
        super().setup()
        # group commits: the deliveries ready at the same moment share one insert
        self.store = LogStore(self.database, pause=lambda: eventlet.sleep(0))

    def start(self) -> None:
        self.store.ensure_indexes()

    def get_dependency(self, worker_ctx: Any) -> LogStore:
        return self.store


class Artifacts(mongo.MongoDatabase):
    """Kept artifacts (GridFS bucket `artifacts`), with the per-record limit of the
    environment (CYCLONE_ARTIFACTS_MAX_BYTES)."""

    def setup(self) -> None:
        super().setup()
        self.store = ArtifactStore(self.database, artifacts.max_bytes())

    def start(self) -> None:
        self.store.ensure_indexes()

    def get_dependency(self, worker_ctx: Any) -> ArtifactStore:
        return self.store


class Tokens(DependencyProvider):
    """The worker tokens (shared/workertoken.py) made from the stack's secret key."""

    def setup(self) -> None:
        self.tokens = workertoken.tokens_or_none(mongo.settings_of(self.container).secret_key)

    def get_dependency(self, worker_ctx: Any) -> workertoken.WorkerTokens | None:
        return self.tokens


ARTIFACT_ERRORS = (errors.NotFound, errors.InvalidRequest, errors.Unauthorized)


class ChunkBytes:
    """Collects garbage after every COLLECT_EVERY bytes of chunk data handled.

    nameko's worker contexts sit in reference cycles, and with them each call's arguments
    and result (a MiB of chunk data each). CPython starts a collection by counts of objects,
    not bytes, so without this the chunks of a large file pile up in memory (hundreds of MiB
    for a 200 MiB artifact). A younger-generation collection is no help: a call's context is
    still alive when the next call starts, survives, and is promoted out of reach. A full
    collection of a whole service costs ~60 ms, so the first one freezes what survives it (the
    service's own objects, gc.freeze): later ones look only at what came since (~1 ms).
    """

    COLLECT_EVERY = 4 * 1024 * 1024

    def __init__(self) -> None:
        self.handled = 0
        self.frozen = False

    def add(self, size: int) -> None:
        self.handled += size
        if self.handled >= self.COLLECT_EVERY:
            self.handled = 0
            gc.collect()
            if not self.frozen:
                gc.freeze()
                self.frozen = True


CHUNK_BYTES = ChunkBytes()


@contextlib.contextmanager
def refused() -> Iterator[None]:
    """A broken rule (artifacts.ArtifactRefused) crosses RPC as InvalidRequest (400)."""
    try:
        yield
    except artifacts.ArtifactRefused as exc:
        raise errors.InvalidRequest(str(exc)) from exc


def _bytes(data: object) -> bytes:
    if not isinstance(data, str):
        raise errors.InvalidRequest("chunk data must be base64 text")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidRequest(f"chunk data is not base64: {exc}") from exc


class LogsService(PingMixin):
    """Owns log lines: ingests worker log streams and serves stored logs."""

    name = services.LOGS
    # Workers at once (nameko's max_workers, and the prefetch of each queue): the log batches
    # stored together in one insert (store.GroupWriter) are those in hand at once, and each
    # insert costs the database a commit: 50 instead of the default 20 took bench.logs' ingest
    # of 200,000 lines from about 1.5 s to 1.3 s. A batch is at most 1 MiB, so at most 50 MiB
    # held at once.
    CONCURRENCY = 50

    store: LogStore = Store()
    artifacts: ArtifactStore = Artifacts()
    tokens: workertoken.WorkerTokens | None = Tokens()
    # Transient and unconfirmed: followers only, and a lost announcement only delays them
    # (they read storage); a confirm per batch was a broker round trip in every ingest. The
    # batches stored meanwhile go out together, one message per record (live.py).
    announce: Callable[[LogBatch], None] = Announcer(
        exchange=LIVE_EXCHANGE, delivery_mode=1, use_confirms=False
    )

    # Idempotent: a batch is stored under its (record, seq), so a redelivered one changes
    # nothing. A failed store is retried later (shared/redelivery); a batch no retry can store
    # (malformed, out of range) goes to the dead-letter queue at once.
    @consume(LOG_QUEUE)
    def ingest(self, body: object) -> None:
        if not workertoken.batch_signed(self.tokens, body):
            record_id = body.get("record_id") if isinstance(body, dict) else None
            log.warning("dropping a log batch of %r not signed by its worker", record_id)
            metrics.LOG_DROPPED.labels("unsigned").inc()
            return
        # A batch that does not fit the contract is dead-lettered at once (MalformedPayload).
        checked = check(LogBatch, body, "log batch")
        try:
            batch = domain.parse_batch(checked)
        except domain.InvalidBatch as exc:
            raise Poison(f"invalid log batch: {exc}") from exc
        try:
            with_retries(
                f"storing {batch['record_id']}:{batch['seq']}", lambda: self.store.add(batch)
            )
        except StoreRejected as exc:
            raise Poison(f"batch {batch['record_id']}:{batch['seq']} refused: {exc}") from exc
        metrics.LOG_LINES.inc(len(batch["lines"]))
        if batch.get("eof"):
            log.info("log complete: %d lines", batch["seq"] + len(batch["lines"]) - 1)
        self.announce(batch)  # stored first: a follower that sees it can read what precedes it

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

    # Idempotent: deleting what is already gone deletes nothing.
    @event_handler(*events.RECORDS_DELETED)
    def records_deleted(self, payload: events.RecordsDeleted) -> None:
        ids = payload["record_ids"]  # checked against the contract on arrival (redelivery)
        removed = with_retries("deleting logs", lambda: self.store.delete(ids))
        log.info("deleted %d log chunks of %d records", removed, len(ids))
        files = self.artifacts.delete_records(ids)
        log.info("deleted %d artifacts of %d records", files, len(ids))

    # --- artifacts: the worker of a record (its token) ---------------------------------------

    def _worker(self, record_id: str, token: str) -> None:
        if self.tokens is None or not self.tokens.valid(record_id, token):
            raise errors.Unauthorized(f"no valid worker token for record {record_id}")

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_begin(
        self, record_id: str, token: str, stage: str, path: str, size: int, mode: int
    ) -> art.Upload:
        self._worker(record_id, token)
        with refused():
            return self.artifacts.begin(record_id, stage, path, size, mode, timefmt.now())

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_chunk(self, record_id: str, token: str, upload: str, n: int, data: str) -> None:
        self._worker(record_id, token)
        CHUNK_BYTES.add(len(data))
        with refused():
            self.artifacts.chunk(record_id, upload, n, _bytes(data))

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_commit(self, record_id: str, token: str, upload: str, sha256: str) -> art.Artifact:
        self._worker(record_id, token)
        with refused():
            return self.artifacts.commit(record_id, upload, sha256)

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_keep(
        self, record_id: str, token: str, stage: str, uploads: list[str]
    ) -> list[str]:
        self._worker(record_id, token)
        with refused():
            return self.artifacts.keep(record_id, stage, list(uploads), timefmt.now())

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_discard(self, record_id: str, token: str, stage: str) -> int:
        self._worker(record_id, token)
        return self.artifacts.discard(record_id, stage)

    # --- artifacts: a rerun's worker restoring what the record it reruns kept (a grant) ------

    def _reader(self, source_id: str, reader_id: str, token: str, grant: str) -> None:
        self._worker(reader_id, token)
        if self.tokens is None or not self.tokens.grant_valid(source_id, reader_id, grant):
            raise errors.Unauthorized(f"record {reader_id} may not read record {source_id}")

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_manifest(
        self, source_id: str, reader_id: str, token: str, grant: str
    ) -> list[art.Artifact]:
        self._reader(source_id, reader_id, token, grant)
        return self.artifacts.list(source_id, internal=True)

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_fetch(
        self,
        source_id: str,
        reader_id: str,
        token: str,
        grant: str,
        file_id: str,
        offset: int,
        length: int,
    ) -> str:
        self._reader(source_id, reader_id, token, grant)
        CHUNK_BYTES.add(length)
        with refused():
            data = self.artifacts.read(source_id, file_id, offset, length, art.MAX_READ)
        return base64.b64encode(data).decode()

    # --- artifacts: the gateway -------------------------------------------------------------

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def list_artifacts(self, record_id: str) -> list[art.Artifact]:
        return self.artifacts.list(record_id)

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def artifact_info(self, record_id: str, path: str) -> art.Artifact:
        return self.artifacts.info(record_id, path)

    @rpc(expected_exceptions=ARTIFACT_ERRORS)
    def read_artifact(self, record_id: str, file_id: str, offset: int, length: int) -> str:
        CHUNK_BYTES.add(length if isinstance(length, int) else 0)
        with refused():
            data = self.artifacts.read(record_id, file_id, offset, length, art.MAX_READ)
        return base64.b64encode(data).decode()
