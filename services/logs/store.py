"""The `log_chunks` collection: one document per stored batch (the only pymongo module here).

`_id` is record_id:seq (zero-padded), so a batch the broker delivers twice is inserted once;
the worker's end marker is a document with `eof: true`, `n: 0` and `seq` = total + 1.

A chunk's lines are stored as one Zstandard frame, `zst`: the lines joined by newlines, in
UTF-8, compressed, when no line holds a newline itself; else as the list `lines`. Documents
stored before hold the joined lines as a string (`text`) or the list; all three read. The
embedded server's work per document grows with its size (decoding it, writing it, reading it
back for any query that touches it, the lines projected away or not), and log lines compress
well. 200 chunks of 1,000 lines, each timed with its compression, on the embedded server:
80-byte lines (bench.logs') 79 KB a chunk -> 1.9 KB, insert 71 -> 53 ms, a walk of the
record's chunks without their lines 22 -> 7 ms; lines of `find / -printf` 162 KB -> 10 KB,
insert 155 -> 89 ms, reading 20 back 13 -> 6 ms, the walk 49 -> 7 ms. Compressing a chunk
takes the service 0.03-0.1 ms, inflating it less.

Writes are group-committed (`GroupWriter`): the batches being stored at the same moment (the
logs service takes up to 50 deliveries at once) go to the database as one unordered
`insert_many`, which the embedded server takes about three times faster per document than one
insert each. Each delivery still waits for its own documents' outcome before it is acked, so a
batch is acked only once stored, and a duplicate key still means "stored before".
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import NotRequired, cast

import zstandard
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidDocument, PyMongoError
from typing_extensions import TypedDict

from services.logs.domain import (
    MAX_READ_BYTES,
    Chunk,
    chunk_id,
    chunks_of,
    matches,
    read_chunks,
)
from shared.contracts.logs import LogBatch
from shared.contracts.rpc import LogChunk

COLLECTION = "log_chunks"
# Largest chunk (in lines) a read expects to start in; a bigger one costs a slower query.
LOOKBACK = 4096
# Line numbers per range query when walking a record.
WINDOW = 16_384
META = {"lines": 0, "text": 0, "zst": 0}
BODY = {"seq": 1, "lines": 1, "text": 1, "zst": 1}
ZSTD_LEVEL = 3  # zstd's default: level 1 was no faster on 80 KB chunks, and packs less


class StoreUnavailable(Exception):
    """The database did not take a write; trying again later may succeed."""


class StoreRejected(Exception):
    """The database can never take this document; retrying is pointless."""


class ChunkDoc(TypedDict):
    """One `log_chunks` document (a stored domain.Chunk); reads may project the lines away.
    The lines are in `zst`, `text` or `lines` (see the module docstring), in one of them."""

    _id: str  # domain.chunk_id
    record_id: str
    seq: int
    n: int
    bytes: int
    stage: str
    lines: NotRequired[list[str]]
    zst: NotRequired[bytes]
    text: NotRequired[str]  # documents stored before `zst`
    task: NotRequired[str]
    eof: NotRequired[bool]


class _StageGroup(TypedDict):
    """What `stages` groups a record's chunks into."""

    _id: str  # the stage
    first: int  # its first line number
    lines: int  # how many lines it has


def _stored_lines(doc: ChunkDoc, lines: Sequence[str]) -> None:
    """Put `lines` into `doc` as `zst` when joining them can be undone by splitting."""
    text = "\n".join(lines)
    if lines and text.count("\n") == len(lines) - 1:
        # UTF-8 always: domain.chunks_of has replaced any lone surrogate
        doc["zst"] = zstandard.compress(text.encode("utf-8"), ZSTD_LEVEL)
    else:
        doc["lines"] = list(lines)


def _lines_of(doc: ChunkDoc) -> list[str]:
    packed = doc.get("zst")
    if packed is not None:  # the frame holds its size: written here, it is trusted
        return zstandard.decompress(packed).decode("utf-8").split("\n")
    text = doc.get("text")
    return text.split("\n") if text is not None else doc.get("lines", [])


def _chunk(doc: ChunkDoc, lines: list[str] | None) -> Chunk:
    return Chunk(
        seq=doc["seq"],
        n=doc["n"],
        stage=doc.get("stage", ""),
        task=doc.get("task"),
        lines=lines,
        eof=bool(doc.get("eof")),
        size=doc.get("bytes", 0),
    )


DUPLICATE_KEY = 11000


@dataclasses.dataclass
class _Pending:
    """One caller's documents, waiting in a group; `outcome` is how many were new, or the
    error to raise in the caller."""

    docs: list[ChunkDoc]
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    outcome: int | Exception = 0


class GroupWriter:
    """Inserts of concurrent callers become one `insert_many` (see the module docstring).

    The first caller of a moment leads: it yields once (`pause`) so that the callers ready at
    the same time add theirs, takes the group and writes it; the others wait for its outcome.
    Callers arriving during the write form the next group. Works with green threads (eventlet
    patches `threading`) and with plain threads alike.
    """

    def __init__(
        self,
        insert_many: Callable[[list[ChunkDoc]], object],
        insert_one: Callable[[ChunkDoc], object],
        pause: Callable[[], object],
    ) -> None:
        self._insert_many = insert_many
        self._insert_one = insert_one
        self._pause = pause
        self._lock = threading.Lock()
        self._group: list[_Pending] = []
        self._leading = False

    def write(self, docs: Sequence[ChunkDoc]) -> int:
        """Insert `docs`; how many were new (a duplicate key was stored before)."""
        mine = _Pending(list(docs))
        with self._lock:
            self._group.append(mine)
            lead = not self._leading
            self._leading = True
        if lead:
            self._pause()
            with self._lock:
                group, self._group = self._group, []
                self._leading = False
            self._commit(group)
        mine.done.wait()
        if isinstance(mine.outcome, Exception):
            raise mine.outcome
        return mine.outcome

    def _commit(self, group: list[_Pending]) -> None:
        try:
            self._settle(group)
        except Exception as exc:  # noqa: BLE001 - every waiter must be woken, with the cause
            for pending in group:
                pending.outcome = exc
        for pending in group:
            pending.done.set()

    def _settle(self, group: list[_Pending]) -> None:
        docs = [doc for pending in group for doc in pending.docs]
        owner = [pending for pending in group for _ in pending.docs]
        for pending in group:
            pending.outcome = len(pending.docs)
        if not docs:
            return
        try:
            self._insert_many(docs)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                pending = owner[error["index"]]
                if error.get("code") == DUPLICATE_KEY:
                    if isinstance(pending.outcome, int):
                        pending.outcome -= 1  # delivered before: the stored copy is the same
                else:
                    pending.outcome = StoreRejected(str(error.get("errmsg", error)))
        except InvalidDocument:
            for pending in group:  # one bad document: find it, store the others
                pending.outcome = self._one_by_one(pending.docs)
        except PyMongoError as exc:
            for pending in group:
                pending.outcome = StoreUnavailable(str(exc))

    def _one_by_one(self, docs: list[ChunkDoc]) -> int | Exception:
        new = 0
        for doc in docs:
            try:
                self._insert_one(doc)
                new += 1
            except DuplicateKeyError:
                pass
            except InvalidDocument as exc:
                return StoreRejected(str(exc))
            except PyMongoError as exc:
                return StoreUnavailable(str(exc))
        return new


class LogStore:
    def __init__(self, database: Database, pause: Callable[[], object] | None = None) -> None:
        # Only this class writes the collection, always whole ChunkDocs.
        self._coll = cast("Collection[ChunkDoc]", database[COLLECTION])
        self._writer = GroupWriter(
            lambda docs: self._coll.insert_many(docs, ordered=False),
            self._coll.insert_one,
            pause or (lambda: None),
        )

    def ensure_indexes(self) -> None:
        self._coll.create_index([("record_id", ASCENDING), ("seq", ASCENDING)])

    # --- writes -----------------------------------------------------------------------------

    def add(self, batch: LogBatch) -> int:
        """Store a batch; returns how many documents were new (0 for a redelivery)."""
        record_id = batch["record_id"]
        docs = []
        for chunk in chunks_of(batch):
            doc = ChunkDoc(
                _id=chunk_id(record_id, chunk.seq),
                record_id=record_id,
                seq=chunk.seq,
                n=chunk.n,
                bytes=chunk.size,
                stage=chunk.stage,
            )
            _stored_lines(doc, chunk.lines or [])
            if chunk.task is not None:
                doc["task"] = chunk.task
            if chunk.eof:
                doc["eof"] = True
            docs.append(doc)
        return self._writer.write(docs)

    def delete(self, record_ids: list[str]) -> int:
        if not record_ids:
            return 0
        try:
            return self._coll.delete_many({"record_id": {"$in": record_ids}}).deleted_count
        except PyMongoError as exc:
            raise StoreUnavailable(str(exc)) from exc

    # --- reads ------------------------------------------------------------------------------

    def read(
        self, record_id: str, stage: str | None, task: str | None, after: int, limit: int
    ) -> LogChunk:
        start = self._start_seq(record_id, after)
        chunks = self._walk(record_id, start, after, limit, stage, task)
        try:
            return read_chunks(chunks, after, limit, stage, task)
        finally:
            chunks.close()

    def stages(self, record_id: str) -> list[str]:
        """Stages that have lines, in the order their first line appears."""
        # Only record_id in the match: any other field there makes the server scan everything.
        pipeline: list[Mapping[str, object]] = [
            {"$match": {"record_id": record_id}},
            {"$group": {"_id": "$stage", "first": {"$min": "$seq"}, "lines": {"$sum": "$n"}}},
        ]
        groups = cast("list[_StageGroup]", list(self._coll.aggregate(pipeline)))
        found = [doc for doc in groups if doc["lines"] > 0]
        return [doc["_id"] for doc in sorted(found, key=lambda doc: doc["first"])]

    def _start_seq(self, record_id: str, after: int) -> int:
        """Where the chunk holding line after + 1 starts (or would start if it is missing).

        Queries stay within a seq range: the server sorts what a query matches, so an
        unbounded range would cost as much as the whole record.
        """
        want = after + 1
        for seq_range in ({"$lte": want, "$gt": want - LOOKBACK}, {"$lte": want}):
            doc = self._coll.find_one(
                {"record_id": record_id, "seq": seq_range},
                projection={"seq": 1},
                sort=[("seq", DESCENDING)],
            )
            if doc is not None:
                return doc["seq"]
        return want

    def _walk(
        self,
        record_id: str,
        start: int,
        after: int,
        limit: int,
        stage: str | None,
        task: str | None,
    ) -> Generator[Chunk, None, None]:
        """Every chunk from `start` in seq order (to follow line numbers), with lines only for
        the matching chunks a read of `limit` lines after `after` can use.

        Each step reads one seq range without the lines, then fetches the bodies it needs by
        `_id` (a filter on a field outside the index would make the server scan the whole
        collection), so a read never loads more than about `limit` lines or MAX_READ_BYTES.
        """
        wanted, budget = limit, MAX_READ_BYTES
        low = start
        while True:
            high = low + WINDOW
            metas = [
                _chunk(doc, None)
                for doc in self._coll.find(
                    {"record_id": record_id, "seq": {"$gte": low, "$lt": high}}, projection=META
                ).sort("seq", ASCENDING)
            ]
            if not metas:
                return
            needed: list[str] = []
            for meta in metas:
                if wanted <= 0 or budget <= 0:
                    break
                if meta.n > 0 and not meta.eof and matches(meta, stage, task):
                    unread = meta.end - max(meta.seq - 1, after)
                    if unread > 0:
                        needed.append(chunk_id(record_id, meta.seq))
                        wanted -= unread
                        budget -= meta.size * unread // meta.n
            bodies = (
                {
                    doc["seq"]: _lines_of(doc)
                    for doc in self._coll.find({"_id": {"$in": needed}}, projection=BODY)
                }
                if needed
                else {}
            )
            for meta in metas:
                # None (not fetched, or deleted since) is where the read must stop.
                yield dataclasses.replace(meta, lines=bodies.get(meta.seq))
            low = max(high, metas[-1].seq + max(metas[-1].n, 1))
