"""The one way tests wait for state that another process reaches a moment later.

A check right after some other wait is a race (a driver deletes a pod, then its Secret; a
service saves a record, then reports it): wait for every piece of eventual state with
`wait_for`, bounded, and fail with the last value seen so the failure says what was there.
Never `time.sleep` to let something happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class NotYet(AssertionError):
    """Raised by `wait_for` when its check never passed within the time given."""


def wait_for(check: Callable[[], T], timeout: float = 10, what: str = "", every: float = 0.05) -> T:
    """Call `check` until it returns something truthy, and return that.

    A check may also raise AssertionError while the state is not there yet; the last value
    (or the last assertion message) is in the failure, after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: object = check()
        except AssertionError as exc:
            last = f"AssertionError: {exc}"
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            name = what or getattr(check, "__name__", "condition")
            raise NotYet(f"timed out after {timeout}s waiting for {name}; last: {last!r}")
        time.sleep(every)


def holds_for(check: Callable[[], T], seconds: float, what: str = "", every: float = 0.05) -> T:
    """Check that `check` stays truthy for `seconds` (a state that must not change)."""
    deadline = time.monotonic() + seconds
    while True:
        last = check()
        if not last:
            raise AssertionError(f"{what or 'condition'} stopped holding: {last!r}")
        if time.monotonic() >= deadline:
            return last
        time.sleep(every)


def line_in(path: Path) -> Callable[[], str]:
    """A check for `wait_for`: the file's text once a whole line is in it. A shell's
    `echo $$ > f` creates the file before it writes: a check of its existence alone read it
    empty once (int("") in test_abort_a_running_command)."""

    def written() -> str:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return ""
        return text if text.endswith("\n") else ""

    return written


def wait_for_file(path: Path, every: float = 0.1) -> str:
    """A shell command, for a build stage, that ends once `path` exists: the test creates it
    when it has seen what it waits for while the stage still runs."""
    return f"while [ ! -e {path} ]; do sleep {every}; done"
