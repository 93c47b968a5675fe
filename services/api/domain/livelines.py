"""Which live log batches a follower sends next: in line order, never a gap, never twice.

The logs service stores batches concurrently, so a later batch can be stored (and announced)
before an earlier one. A follower holds what arrived, by first line number, and sends only what
continues its stream; the rest waits for the batches before it (or for storage to supply them;
services/api/resources/logstream.py decides how long).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.contracts.logs import LogBatch


@dataclass
class Release:
    """What `in_line` lets out: the lines to send, the new cursor, whether the log ended."""

    after: int
    lines: list[str] = field(default_factory=list)
    complete: bool = False


def in_line(held: dict[int, LogBatch], after: int, wanted: Callable[[LogBatch], bool]) -> Release:
    """Take from `held` (batches by first line number) every batch that continues a stream
    whose last sent line is `after`. A batch all before the cursor is dropped, one that
    overlaps it gives only its new lines; `wanted` says whether a batch's lines are sent
    (a stage or task filter) or only skipped over. The end-of-log marker (alone, or on the
    log's last lines) completes the log once every line before it has been taken."""
    out = Release(after)
    while held:
        seq = min(held)
        if seq > out.after + 1:
            break
        batch = held.pop(seq)
        lines = batch.get("lines") or []
        last = seq + len(lines) - 1
        if last > out.after:
            if wanted(batch):
                out.lines.extend(lines[out.after + 1 - seq :])
            out.after = last
        if batch.get("eof"):  # it continues the stream: every line before it is taken
            out.complete = True
            break
    return out
