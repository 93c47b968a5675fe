"""The order a follower sends live batches in (services/api/domain/livelines.py)."""

from __future__ import annotations

from services.api.domain.livelines import in_line
from shared.contracts.logs import LogBatch


def batch(seq: int, n: int, stage: str = "package", eof: bool = False) -> LogBatch:
    made: LogBatch = {
        "record_id": "r",
        "seq": seq,
        "stage": stage,
        "lines": [f"line {seq + i}" for i in range(n)],
    }
    if eof:
        made["eof"] = True
    return made


def every(_: LogBatch) -> bool:
    return True


def test_a_batch_after_a_gap_waits_until_the_batch_before_it_arrives():
    held = {11: batch(11, 10)}
    out = in_line(held, 0, every)
    assert (out.lines, out.after, out.complete) == ([], 0, False)
    assert list(held) == [11]  # still held

    held[1] = batch(1, 10)
    out = in_line(held, 0, every)
    assert out.lines == [f"line {n}" for n in range(1, 21)]
    assert (out.after, out.complete, held) == (20, False, {})


def test_only_what_continues_the_stream_is_let_out():
    held = {1: batch(1, 5), 6: batch(6, 5), 21: batch(21, 5)}
    out = in_line(held, 0, every)
    assert out.after == 10 and len(out.lines) == 10
    assert list(held) == [21]


def test_lines_already_sent_are_never_sent_twice():
    # the cursor is at 7 (storage gave lines up to 7): 1-5 dropped, 6-10 only from 8
    held = {1: batch(1, 5), 6: batch(6, 5)}
    out = in_line(held, 7, every)
    assert out.lines == ["line 8", "line 9", "line 10"]
    assert out.after == 10 and held == {}


def test_the_end_marker_completes_only_after_every_line_before_it():
    held = {21: batch(21, 0, eof=True), 11: batch(11, 10)}
    out = in_line(held, 0, every)
    assert not out.complete and set(held) == {11, 21}

    held[1] = batch(1, 10)
    out = in_line(held, 0, every)
    assert out.complete and out.after == 20 and len(out.lines) == 20


def test_a_filtered_stream_skips_over_other_stages_lines():
    held = {1: batch(1, 3, "codeCheckout"), 4: batch(4, 2, "package")}
    out = in_line(held, 0, lambda b: b.get("stage") == "package")
    assert out.lines == ["line 4", "line 5"]
    assert out.after == 5


def test_an_end_on_the_last_lines_sends_them_and_completes_only_in_line():
    held = {11: batch(11, 5, eof=True)}  # lines 11-15 and the end: 1-10 not yet here
    out = in_line(held, 0, every)
    assert (out.lines, out.complete) == ([], False) and list(held) == [11]

    held[1] = batch(1, 10)
    out = in_line(held, 0, every)
    assert out.lines == [f"line {n}" for n in range(1, 16)]
    assert (out.after, out.complete, held) == (15, True, {})


def test_an_end_on_lines_already_sent_still_completes():
    # storage gave every line up to 15; the live copy of the last batch comes after
    out = in_line({11: batch(11, 5, eof=True)}, 15, every)
    assert (out.lines, out.after, out.complete) == ([], 15, True)
    # a filter skips the lines and still sees the end
    out = in_line({11: batch(11, 5, "other", eof=True)}, 10, lambda b: b["stage"] == "x")
    assert (out.lines, out.after, out.complete) == ([], 15, True)
