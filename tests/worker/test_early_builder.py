"""A Docker cloud's builder made on a thread while the checkout runs
(services/worker/executors/docker.py EarlyStart): what it says reaches the stage's log in
order, whenever the stage starts waiting, and what it raises is raised to the waiter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from services.worker.executors.docker import EarlyStart
from services.worker.imaging import EngineError


def test_lines_said_before_and_after_the_wait_arrive_in_order():
    waiting, go = threading.Event(), threading.Event()
    made = object()

    def make(say: Callable[[str], None]) -> Any:
        say("pulling image x")
        say("pulled")
        waiting.set()
        go.wait(5)
        say("builder started")
        return made

    early = EarlyStart(make)
    assert waiting.wait(5)
    got: list[str] = []
    threading.Timer(0.05, go.set).start()  # lines keep coming once the stage waits
    assert early.result(got.append) is made
    assert got == ["pulling image x", "pulled", "builder started"]


def test_what_the_start_raised_is_raised_to_the_waiter():
    def make(say: Callable[[str], None]) -> Any:
        say("pulling image x")
        raise EngineError("image x is not on the Docker host and cannot be pulled")

    early = EarlyStart(make)
    early.wait()  # the teardown's wait does not raise
    got: list[str] = []
    with pytest.raises(EngineError, match="cannot be pulled"):
        early.result(got.append)
    assert got == ["pulling image x"]
