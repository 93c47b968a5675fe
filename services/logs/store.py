"""The `log_chunks` collection: one document per stored batch (the only pymongo module here).

`_id` is record_id:seq (zero-padded), so a batch the broker delivers twice is inserted once;
the worker's end marker is a document with `eof: true`, `n: 0` and `seq` = total + 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping
from typing import NotRequired, cast

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, InvalidDocument, PyMongoError
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
META = {"lines": 0}


class StoreUnavailable(Exception):
    """The database did not take a write; trying again later may succeed."""


class StoreRejected(Exception):
    """The database can never take this document; retrying is pointless."""


class ChunkDoc(TypedDict):
    """One `log_chunks` document (a stored domain.Chunk); reads may project `lines` away."""

    _id: str  # domain.chunk_id
    record_id: str
    seq: int
    n: int
    bytes: int
    stage: str
    lines: NotRequired[list[str]]
    task: NotRequired[str]
    eof: NotRequired[bool]


class _StageGroup(TypedDict):
    """What `stages` groups a record's chunks into."""

    _id: str  # the stage
    first: int  # its first line number
    lines: int  # how many lines it has


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


class LogStore:
    def __init__(self, database: Database) -> None:
        # Only this class writes the collection, always whole ChunkDocs.
        self._coll = cast("Collection[ChunkDoc]", database[COLLECTION])

    def ensure_indexes(self) -> None:
        self._coll.create_index([("record_id", ASCENDING), ("seq", ASCENDING)])

    # --- writes -----------------------------------------------------------------------------

    def add(self, batch: LogBatch) -> int:
        """Store a batch; returns how many documents were new (0 for a redelivery)."""
        record_id = batch["record_id"]
        new = 0
        for chunk in chunks_of(batch):
            doc = ChunkDoc(
                _id=chunk_id(record_id, chunk.seq),
                record_id=record_id,
                seq=chunk.seq,
                n=chunk.n,
                bytes=chunk.size,
                stage=chunk.stage,
                lines=list(chunk.lines or []),
            )
            if chunk.task is not None:
                doc["task"] = chunk.task
            if chunk.eof:
                doc["eof"] = True
            try:
                self._coll.insert_one(doc)
                new += 1
            except DuplicateKeyError:
                pass  # delivered before: the stored copy is the same batch
            except InvalidDocument as exc:
                raise StoreRejected(str(exc)) from exc
            except PyMongoError as exc:
                raise StoreUnavailable(str(exc)) from exc
        return new

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
                    doc["seq"]: doc["lines"]
                    for doc in self._coll.find(
                        {"_id": {"$in": needed}}, projection={"seq": 1, "lines": 1}
                    )
                }
                if needed
                else {}
            )
            for meta in metas:
                # None (not fetched, or deleted since) is where the read must stop.
                yield dataclasses.replace(meta, lines=bodies.get(meta.seq))
            low = max(high, metas[-1].seq + max(metas[-1].n, 1))
