"""Pure rules of the logs service: batch checks, chunking, and ordered reads with gaps."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from services.logs import domain
from services.logs.domain import Chunk, chunks_of, parse_batch, read_chunks
from shared.contracts.boundary import MalformedPayload, check
from shared.contracts.logs import LogBatch


def lines(first: int, last: int, tag: str = "l") -> list[str]:
    return [f"{tag}{i}" for i in range(first, last + 1)]


def chunk(seq: int, n: int, stage: str = "s", task: str | None = None) -> Chunk:
    return Chunk(seq, n, stage, task, lines(seq, seq + n - 1))


def eof(seq: int) -> Chunk:
    return Chunk(seq, 0, "s", None, [], eof=True)


# --- batches --------------------------------------------------------------------------------


def test_chunk_ids_sort_like_line_numbers():
    assert domain.chunk_id("r1", 7) == "r1:000000000007"
    assert domain.chunk_id("r", 10) > domain.chunk_id("r", 9)


def test_parse_batch_keeps_known_fields():
    body = {"record_id": "r", "seq": 3, "stage": "unitTest", "task": "t", "lines": ["a"], "x": 1}
    assert parse_batch(body) == {
        "record_id": "r",
        "seq": 3,
        "stage": "unitTest",
        "task": "t",
        "lines": ["a"],
    }
    end = {"record_id": "r", "seq": 1, "stage": "s", "lines": [], "eof": True}
    assert parse_batch(end)["eof"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "(the payload)"),
        ([], "(the payload)"),
        ({"seq": 1, "stage": "s", "lines": []}, "record_id"),
        ({"record_id": "r", "seq": True, "stage": "s", "lines": []}, "seq"),
        ({"record_id": "r", "seq": "1", "stage": "s", "lines": []}, "seq"),
        ({"record_id": "r", "seq": 1, "lines": []}, "stage"),
        ({"record_id": "r", "seq": 1, "stage": "s", "task": 3, "lines": []}, "task"),
        ({"record_id": "r", "seq": 1, "stage": "s"}, "lines"),
        ({"record_id": "r", "seq": 1, "stage": "s", "lines": "abc"}, "lines"),
        ({"record_id": "r", "seq": 1, "stage": "s", "lines": ["a", 1]}, "lines.1"),
        ({"record_id": "r", "seq": 1, "stage": "s", "lines": [], "eof": "yes"}, "eof"),
    ],
)
def test_what_is_not_a_log_batch_is_refused_at_the_boundary(body, field):
    """The consumer checks each message against the contract first (service.ingest)."""
    with pytest.raises(MalformedPayload, match=re.escape(f"malformed log batch: {field}: ")):
        check(LogBatch, body, "log batch")


@pytest.mark.parametrize(
    "body",
    [
        {"record_id": "", "seq": 1, "stage": "s", "lines": []},
        {"record_id": "r", "seq": 0, "stage": "s", "lines": []},
        {"record_id": "r", "seq": 2**63, "stage": "s", "lines": []},
        {"record_id": "r", "seq": 2**63 - 1, "stage": "s", "lines": ["a", "b"]},
    ],
)
def test_parse_batch_rejects_a_batch_no_store_can_take(body):
    check(LogBatch, body, "log batch")  # the right types...
    with pytest.raises(domain.InvalidBatch):  # ...and values out of range
        parse_batch(body)


def test_a_batch_is_one_chunk_and_eof_is_a_marker_after_it():
    batch = parse_batch(
        {"record_id": "r", "seq": 5, "stage": "s", "task": "t", "lines": ["a", "b"]}
    )
    assert chunks_of(batch) == [Chunk(5, 2, "s", "t", ["a", "b"], size=2)]
    end = parse_batch({"record_id": "r", "seq": 7, "stage": "s", "lines": [], "eof": True})
    assert chunks_of(end) == [Chunk(7, 0, "s", None, [], eof=True)]
    both = parse_batch({"record_id": "r", "seq": 1, "stage": "s", "lines": ["a"], "eof": True})
    assert [(c.seq, c.n, c.eof) for c in chunks_of(both)] == [(1, 1, False), (2, 0, True)]
    assert chunks_of(parse_batch({"record_id": "r", "seq": 1, "stage": "s", "lines": []})) == []


def test_a_batch_too_big_for_one_document_is_cut_the_same_way_every_time(monkeypatch):
    monkeypatch.setattr(domain, "MAX_CHUNK_BYTES", 10)
    batch = parse_batch({"record_id": "r", "seq": 1, "stage": "s", "lines": ["aaaa"] * 5})
    cut = chunks_of(batch)
    assert [(c.seq, c.n) for c in cut] == [(1, 2), (3, 2), (5, 1)]
    assert chunks_of(batch) == cut
    assert [line for c in cut for line in c.lines or []] == ["aaaa"] * 5


def test_huge_lines_are_truncated_and_lone_surrogates_replaced(monkeypatch):
    monkeypatch.setattr(domain, "MAX_LINE_BYTES", 100)
    batch = parse_batch(
        {"record_id": "r", "seq": 1, "stage": "s", "lines": ["é" * 200, "a\ud800b", "ok"]}
    )
    long, surrogate, ok = chunks_of(batch)[0].lines or []
    assert long.endswith(domain.TRUNCATED) and len(long.encode()) <= 100
    assert long.startswith("é" * 10)
    assert surrogate.startswith("a") and surrogate.endswith("b") and "\ufffd" in surrogate
    surrogate.encode("utf-8")  # storable
    assert ok == "ok"


def test_a_long_ascii_line_is_truncated_too(monkeypatch):
    """ASCII lines take a path of their own (sized without a pass per line): one too long is
    still cut, and the chunk's size is what is stored."""
    monkeypatch.setattr(domain, "MAX_LINE_BYTES", 100)
    batch = parse_batch({"record_id": "r", "seq": 1, "stage": "s", "lines": ["a" * 200, "ok"]})
    [chunk] = chunks_of(batch)
    long, ok = chunk.lines or []
    assert long.endswith(domain.TRUNCATED) and len(long) <= 100 and ok == "ok"
    assert chunk.size == len(long) + 2


# --- reads ----------------------------------------------------------------------------------


def test_reads_contiguous_chunks_in_order_from_after():
    chunks = [chunk(1, 3), chunk(4, 3), chunk(7, 2)]
    assert read_chunks(chunks, 0, 100) == {"lines": lines(1, 8), "next": 8, "complete": False}
    assert read_chunks(chunks, 4, 3) == {"lines": lines(5, 7), "next": 7, "complete": False}
    assert read_chunks(chunks, 8, 3) == {"lines": [], "next": 8, "complete": False}


def test_eof_completes_the_read_even_when_limit_is_reached_on_the_last_line():
    chunks = [chunk(1, 3), chunk(4, 2), eof(6)]
    assert read_chunks(chunks, 0, 100) == {"lines": lines(1, 5), "next": 5, "complete": True}
    assert read_chunks(chunks, 0, 5)["complete"] is True
    assert read_chunks(chunks, 0, 4) == {"lines": lines(1, 4), "next": 4, "complete": False}
    assert read_chunks(chunks, 5, 10) == {"lines": [], "next": 5, "complete": True}
    assert read_chunks([eof(1)], 0, 10) == {"lines": [], "next": 0, "complete": True}


def test_a_gap_stops_the_read_before_it():
    chunks = [chunk(1, 3), chunk(7, 2), eof(9)]  # lines 4..6 missing
    assert read_chunks(chunks, 0, 100) == {"lines": lines(1, 3), "next": 3, "complete": False}
    assert read_chunks(chunks, 3, 100) == {"lines": [], "next": 3, "complete": False}
    # Once the client is past the gap (it read from 6 on), the rest reads normally.
    assert read_chunks(chunks[1:], 6, 100) == {"lines": lines(7, 8), "next": 8, "complete": True}
    assert read_chunks([chunk(2, 3), eof(5)], 0, 10)["lines"] == []  # line 1 missing


def test_nothing_stored_yet():
    assert read_chunks([], 0, 10) == {"lines": [], "next": 0, "complete": False}


def test_stage_filter_keeps_whole_record_line_numbers():
    chunks = [chunk(1, 3, "a"), chunk(4, 3, "b"), chunk(7, 2, "a"), chunk(9, 2, "c"), eof(11)]
    first = read_chunks(chunks, 0, 2, stage="b")
    assert first == {"lines": lines(4, 5), "next": 5, "complete": False}
    rest = read_chunks(chunks, first["next"], 2, stage="b")
    # No more b lines: the read walks to the end marker, so the client knows it is done.
    assert rest == {"lines": ["l6"], "next": 10, "complete": True}
    assert read_chunks(chunks, 0, 100, stage="a")["lines"] == lines(1, 3) + lines(7, 8)
    # Past the limit the read still walks over other stages, up to the next line it would return.
    assert read_chunks(chunks, 0, 3, stage="a") == {
        "lines": lines(1, 3),
        "next": 6,
        "complete": False,
    }
    assert read_chunks(chunks, 6, 3, stage="a") == {
        "lines": lines(7, 8),
        "next": 10,
        "complete": True,
    }


def test_stage_filter_stops_at_gaps_in_other_stages_too():
    chunks = [chunk(1, 3, "a"), chunk(6, 2, "a"), eof(8)]  # lines 4..5 (any stage) missing
    assert read_chunks(chunks, 0, 100, stage="a") == {
        "lines": lines(1, 3),
        "next": 3,
        "complete": False,
    }


def test_task_filter():
    chunks = [chunk(1, 2, "t", "x"), chunk(3, 2, "t", "y"), chunk(5, 1, "t", "x"), eof(6)]
    got = read_chunks(chunks, 0, 100, stage="t", task="x")
    assert got == {"lines": ["l1", "l2", "l5"], "next": 5, "complete": True}
    assert read_chunks(chunks, 0, 100, task="y")["lines"] == ["l3", "l4"]


def test_a_matching_chunk_without_fetched_lines_ends_the_read():
    chunks = [chunk(1, 2), Chunk(3, 2, "s", None, None), chunk(5, 1)]
    assert read_chunks(chunks, 0, 100) == {"lines": lines(1, 2), "next": 2, "complete": False}
    # Outside the filter, a chunk's lines are not needed.
    assert read_chunks(chunks, 0, 100, stage="z") == {"lines": [], "next": 5, "complete": False}


def test_overlapping_resend_is_not_read_twice():
    chunks = [chunk(1, 4), chunk(3, 4)]
    assert read_chunks(chunks, 0, 100)["lines"] == lines(1, 6)


def test_byte_budget_bounds_a_reply_but_always_returns_a_line():
    chunks = [Chunk(1, 3, "s", None, ["x" * 10, "y" * 10, "z"])]
    assert read_chunks(chunks, 0, 100, max_bytes=25)["lines"] == ["x" * 10, "y" * 10]
    assert read_chunks(chunks, 0, 100, max_bytes=1) == {
        "lines": ["x" * 10],
        "next": 1,
        "complete": False,
    }


def test_chunks_are_consumed_lazily():
    pulled: list[int] = []

    def source() -> Iterator[Chunk]:
        for seq in range(1, 1000, 10):
            pulled.append(seq)
            yield chunk(seq, 10)

    assert read_chunks(source(), 0, 25)["next"] == 25
    assert pulled == [1, 11, 21]


@pytest.mark.parametrize(
    ("after", "limit"),
    [(-1, 10), (0, 0), (0, 10_001), ("0", 10), (0, 2.5), (True, 10), (0, None)],
)
def test_check_read_rejects_bad_arguments(after, limit):
    with pytest.raises(ValueError):
        domain.check_read(after, limit)


def test_check_read_and_filter_accept_the_bounds():
    domain.check_read(0, 1)
    domain.check_read(5, 10_000)
    domain.check_filter("r", None, None)
    domain.check_filter("r", "unitTest", "t")
    for bad in [("", None, None), (None, None, None), ("r", 1, None), ("r", None, ["t"])]:
        with pytest.raises(ValueError):
            domain.check_filter(*bad)


def test_live_announcements_group_batches_per_record_in_line_order():
    from services.logs.live import grouped

    def batch(record: str, seq: int) -> LogBatch:
        return {"record_id": record, "seq": seq, "stage": "package", "lines": ["x"]}

    came = [batch("a", 11), batch("b", 1), batch("a", 1), batch("a", 21), batch("b", 2)]
    assert grouped(came) == [
        {"record_id": "a", "batches": [came[2], came[0], came[3]]},  # stored 11 before 1
        {"record_id": "b", "batches": [came[1], came[4]]},
    ]
    assert grouped([]) == []
