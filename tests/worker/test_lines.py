"""Chunked output as whole lines (services/worker/lines.py)."""

from __future__ import annotations

from services.worker.lines import LineLog
from services.worker.stages.process import MAX_LINE


def test_chunks_become_lines_whatever_the_cuts():
    got: list[str] = []
    lines = LineLog(got.append)
    lines.consume([b"one\ntw", b"o\r\nth", b"ree\n", b"\xc3", b"\xa9 last"])
    assert got == ["one", "two", "three", "\u00e9 last"]
    assert list(lines.tail) == got


def test_long_lines_are_cut_and_late_lines_dropped():
    got: list[str] = []
    lines = LineLog(got.append)
    lines.feed(b"x" * (MAX_LINE + 3) + b"\n")
    assert [len(g) for g in got] == [MAX_LINE, 3]
    lines.close()
    lines.feed(b"straggler\n")
    assert len(got) == 2


def test_a_failing_log_is_kept_for_the_caller():
    def broken(_text: str) -> None:
        raise OSError("sink gone")

    lines = LineLog(broken)
    lines.consume([b"a\nb\n"])
    assert isinstance(lines.error, OSError)
