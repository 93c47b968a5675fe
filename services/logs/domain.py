"""Pure rules of the logs service: checking batches, cutting them into stored chunks, and
reading chunks back in line order (no pymongo, no nameko).

Line numbers count from 1 over the whole record (the worker numbers them), so order,
duplicates and gaps follow from `seq` alone, whatever order the broker delivers batches in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from shared.contracts.logs import LogBatch
from shared.contracts.rpc import LogChunk

MAX_READ_LIMIT = 10_000
# BSON documents stop at 16 MiB: a batch bigger than this is stored as several chunks.
MAX_CHUNK_BYTES = 8 * 1024 * 1024
# One line longer than this (UTF-8) is cut, so any line fits in a chunk.
MAX_LINE_BYTES = 4 * 1024 * 1024
TRUNCATED = " [line truncated by the logs service]"
# RPC replies are one AMQP message; stop adding lines once the JSON would pass this.
MAX_READ_BYTES = 8 * 1024 * 1024


class InvalidBatch(ValueError):
    """A LogBatch that breaks a rule its type cannot say (dead-lettered: retrying cannot
    help). One that does not even fit the type is refused at the consumer
    (shared/contracts/boundary.py)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive lines `seq`..`seq + n - 1` of one stage; `eof` marks the end (n = 0).

    `lines` is None when a reader did not fetch them (a chunk outside its stage filter).
    """

    seq: int
    n: int
    stage: str
    task: str | None = None
    lines: Sequence[str] | None = None
    eof: bool = False
    size: int = 0  # UTF-8 bytes of the lines

    @property
    def end(self) -> int:
        """The last line number in the chunk (seq - 1 when it has none)."""
        return self.seq + self.n - 1


def chunk_id(record_id: str, seq: int) -> str:
    """Zero-padded so ids sort like line numbers and a redelivered batch hits the same id."""
    return f"{record_id}:{seq:012d}"


# --- ingest ---------------------------------------------------------------------------------


MAX_SEQ = 2**63 - 1  # line numbers are stored as BSON int64


def parse_batch(body: LogBatch) -> LogBatch:
    """The batch with only the fields the service keeps, or InvalidBatch saying which rule
    it breaks (a checked LogBatch: the types are right, the values may not be)."""
    record_id, seq, stage, lines = body["record_id"], body["seq"], body["stage"], body["lines"]
    if not record_id:
        raise InvalidBatch("record_id must be a non-empty string")
    if seq < 1:
        raise InvalidBatch(f"seq must be an integer >= 1, got {seq!r}")
    task, eof = body.get("task"), body.get("eof", False)
    if seq + len(lines) > MAX_SEQ:
        # BSON cannot store it: the insert would fail, the message be requeued, fail again...
        raise InvalidBatch(f"seq {seq} is past the largest line number storage can hold")
    batch: LogBatch = {"record_id": record_id, "seq": seq, "stage": stage, "lines": lines}
    if task is not None:
        batch["task"] = task
    if eof:
        batch["eof"] = True
    return batch


def _utf8_size(line: str) -> tuple[str, int]:
    """The line as storable text (lone surrogates replaced) and its UTF-8 size."""
    if line.isascii():  # most lines: their size without encoding them (a C scan)
        return line, len(line)
    try:
        return line, len(line.encode("utf-8"))
    except UnicodeEncodeError:
        # Only JSON escapes can produce lone surrogates; BSON cannot hold them.
        fixed = line.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return fixed, len(fixed.encode("utf-8"))


def _storable(line: str) -> tuple[str, int]:
    text, size = _utf8_size(line)
    if size <= MAX_LINE_BYTES:
        return text, size
    cut = text.encode("utf-8")[: MAX_LINE_BYTES - len(TRUNCATED)].decode("utf-8", "ignore")
    text = cut + TRUNCATED
    return text, len(text.encode("utf-8"))


def _plain_size(lines: list[str]) -> int | None:
    """The UTF-8 size of `lines` when they fit one chunk as they are (every line ASCII, none
    too long), else None. Sized by loops in C: the pass per line in Python that other lines
    need took 0.28 ms per 1,000 lines, about a sixth of the service's CPU in an ingest."""
    if not lines or not all(map(str.isascii, lines)):
        return None
    size = sum(map(len, lines))
    if size > MAX_CHUNK_BYTES or max(map(len, lines)) > MAX_LINE_BYTES:
        return None
    return size


def chunks_of(batch: LogBatch) -> list[Chunk]:
    """The documents to store for a batch: usually one chunk, plus the end marker if any.

    A batch too big for one document is cut at line boundaries; the cut depends only on the
    batch, so a redelivered batch produces the same ids (and is ignored as a duplicate).
    """
    stage, task, lines, seq = batch["stage"], batch.get("task"), batch["lines"], batch["seq"]
    plain = _plain_size(lines)
    if plain is not None:  # the usual batch: one chunk of the lines as they came
        chunks = [Chunk(seq, len(lines), stage, task, list(lines), size=plain)]
    else:
        chunks = _cut(lines, seq, stage, task)
    if batch.get("eof"):
        chunks.append(Chunk(seq + len(lines), 0, stage, task, [], eof=True))
    return chunks


def _cut(lines: list[str], seq: int, stage: str, task: str | None) -> list[Chunk]:
    """Storable lines (see _storable) in chunks of at most MAX_CHUNK_BYTES."""
    chunks: list[Chunk] = []
    current: list[str] = []
    size = 0
    for line in lines:
        text, n = _storable(line)
        if current and size + n > MAX_CHUNK_BYTES:
            chunks.append(Chunk(seq, len(current), stage, task, current, size=size))
            seq, current, size = seq + len(current), [], 0
        current.append(text)
        size += n
    if current:
        chunks.append(Chunk(seq, len(current), stage, task, current, size=size))
    return chunks


# --- reading --------------------------------------------------------------------------------


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_read(after: object, limit: object) -> None:
    """RPC arguments a read accepts; ValueError otherwise (bad input, not a server fault)."""
    if not _is_int(after) or after < 0:
        raise ValueError(f"after must be an integer >= 0, got {after!r}")
    if not _is_int(limit) or not 1 <= limit <= MAX_READ_LIMIT:
        raise ValueError(f"limit must be an integer in 1..{MAX_READ_LIMIT}, got {limit!r}")


def check_filter(record_id: object, stage: object, task: object) -> None:
    if not isinstance(record_id, str) or not record_id:
        raise ValueError("record_id must be a non-empty string")
    if stage is not None and not isinstance(stage, str):
        raise ValueError("stage must be a string or null")
    if task is not None and not isinstance(task, str):
        raise ValueError("task must be a string or null")


def matches(chunk: Chunk, stage: str | None, task: str | None) -> bool:
    return (stage is None or chunk.stage == stage) and (task is None or chunk.task == task)


def _reply_size(line: str) -> int:
    """About what the line costs in the JSON reply (non-ASCII is escaped as \\uXXXX)."""
    return len(line) + 2 if line.isascii() else len(json.dumps(line))


def read_chunks(
    chunks: Iterable[Chunk],
    after: int,
    limit: int,
    stage: str | None = None,
    task: str | None = None,
    max_bytes: int = MAX_READ_BYTES,
) -> LogChunk:
    """Lines numbered above `after`, walking `chunks` (sorted by seq) without skipping a gap.

    Chunks outside the stage/task filter are walked over but not returned, so `next` stays a
    whole-record line number a client can resume from. `chunks` is consumed lazily: iteration
    stops at the first missing line, after `limit` lines (or `max_bytes`), or at the end
    marker. `complete` means the end marker was reached with no line missing before it.
    """
    out: list[str] = []
    cursor = after  # every line up to here is accounted for
    size = 0
    for chunk in chunks:
        if chunk.seq > cursor + 1:
            break  # line cursor + 1 is missing (not yet arrived, or lost): never skip it
        if chunk.eof:
            return {"lines": out, "next": cursor, "complete": True}
        if chunk.end <= cursor:
            continue  # before `after`, or an overlapping resend
        if not matches(chunk, stage, task):
            cursor = chunk.end
            continue
        if len(out) >= limit or chunk.lines is None:
            break
        for line in chunk.lines[cursor + 1 - chunk.seq :]:
            cost = _reply_size(line)
            if len(out) >= limit or (out and size + cost > max_bytes):
                return {"lines": out, "next": cursor, "complete": False}
            out.append(line)
            size += cost
            cursor += 1
    return {"lines": out, "next": cursor, "complete": False}
