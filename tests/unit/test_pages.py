"""Records pages as ranges of sequence numbers (services/scheduler/domain/pages.py), checked
against the plain answer: the stored numbers, newest first, sliced."""

from __future__ import annotations

import random

import pytest

from services.scheduler.domain.pages import SeqRange, collapse, page_range


def plain(top: int, gone: set[int], start: int, limit: int) -> list[int]:
    return [n for n in range(top, 0, -1) if n not in gone][start : start + limit]


def paged(top: int, floor: int, holes: set[int], start: int, limit: int) -> list[int]:
    found = page_range(top, floor, sorted(holes), start, limit)
    if found is None:
        return []
    numbers = [n for n in range(found.high, found.low - 1, -1) if n not in holes]
    assert len(numbers) == found.expected
    return numbers


def test_no_holes_is_plain_arithmetic() -> None:
    assert page_range(100_000, 0, [], 50_000, 20) == SeqRange(49_981, 50_000, 20)
    assert page_range(10, 0, [], 8, 20) == SeqRange(1, 2, 2)
    assert page_range(10, 0, [], 10, 20) is None
    assert page_range(10, 4, [], 3, 20) == SeqRange(5, 7, 3)  # 1-4 deleted by retention


@pytest.mark.parametrize("seed", range(40))
def test_any_holes_give_the_plain_answer(seed: int) -> None:
    rng = random.Random(seed)
    top = rng.randint(1, 60)
    gone = {n for n in range(1, top + 1) if rng.random() < 0.3}
    floor, holes = collapse(0, sorted(gone))
    assert {n for n in range(1, floor + 1)} | set(holes) == gone
    for start in range(0, top + 2):
        for limit in (1, 3, 7, 50):
            assert paged(top, floor, set(holes), start, limit) == plain(top, gone, start, limit)


def test_collapse_raises_the_floor_over_the_oldest_holes() -> None:
    assert collapse(0, [1, 2, 3, 5, 7]) == (3, [5, 7])
    assert collapse(3, [5, 7]) == (3, [5, 7])
    assert collapse(3, [4, 5, 7, 2]) == (5, [7])
