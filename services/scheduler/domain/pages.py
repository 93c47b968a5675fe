"""Which sequence numbers a records page covers, without reading the records before it.

A pipeline's records are numbered 1, 2, 3, ... as they are created (`pipelineSeq`). The
scheduler keeps, per pipeline, the last number given (`top`), a `floor` under which every
number is gone (retention deletes the oldest records), and the numbers gone above it
(`holes`: a record deleted in the middle, or a number taken by a create that stored
nothing). From those, the page of `limit` records after the `start` newest is one range of
numbers, read through the (pipelineID, pipelineSeq) index: what a page costs no longer grows
with its offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeqRange:
    low: int
    high: int
    expected: int  # records the range holds: its numbers, less the holes among them


def page_range(
    top: int, floor: int, holes: Sequence[int], start: int, limit: int
) -> SeqRange | None:
    """The numbers of the page (start, limit), newest first; None when it lies past the
    oldest record. `holes` are the numbers gone above `floor`, in any order."""
    if start < 0 or limit <= 0:
        return None
    gone = sorted((h for h in set(holes) if floor < h <= top), reverse=True)
    high = top - start  # the newest of the page, were no number missing
    for hole in gone:  # each missing number at or above it moves it one down
        if hole >= high:
            high -= 1
        else:
            break
    if high <= floor:
        return None
    low = high - limit + 1
    for hole in gone:
        if hole > high:
            continue
        if hole >= low:
            low -= 1
        else:
            break
    low = max(low, floor + 1)
    expected = (high - low + 1) - sum(1 for h in gone if low <= h <= high)
    return SeqRange(low, high, expected)


def collapse(floor: int, holes: Sequence[int]) -> tuple[int, list[int]]:
    """`floor` raised over the holes right above it (the oldest records are deleted first,
    so the holes they leave join the floor), and the holes still above it."""
    rest = set(holes)
    while floor + 1 in rest:
        floor += 1
        rest.discard(floor)
    return floor, sorted(h for h in rest if h > floor)
