"""/healthz sees a service stop answering within its verdict's age (1 s) plus one check (2 s):
caching the verdict costs at most a second of staleness."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from services.api.resources.meta import HEALTH_MAX_AGE, HEALTH_TIMEOUT
from tests.support import StackProcess
from tests.waiting import holds_for, wait_for

SLACK = 1.0  # the RPC round trips and this machine's load


def status(stack: StackProcess) -> int:
    return answer(stack).status_code


def answer(stack: StackProcess) -> httpx.Response:
    try:
        return httpx.get(stack.url + "/healthz", timeout=10)
    except httpx.TransportError:
        return httpx.Response(599, json={})


def settled_healthy(stack: StackProcess) -> None:
    """Healthy on every ask for longer than a verdict is kept: no gateway process (each has its
    own) still serves one from before."""
    wait_for(
        lambda: holds_for(lambda: status(stack) == 200, HEALTH_MAX_AGE + 0.5, "healthy"),
        60,
        "every gateway process to say healthy",
    )


@pytest.mark.timeout(180)
def test_a_stopped_service_is_seen_within_a_second_and_a_check(stack: StackProcess):
    settled_healthy(stack)
    pid = stack.pids()["logs"]
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        wait_for(
            lambda: "logs" in answer(stack).json().get("failing", []),
            15,
            "/healthz to name the logs service",
            every=0.02,
        )
        seen = time.monotonic() - stopped
        assert seen <= HEALTH_MAX_AGE + HEALTH_TIMEOUT + SLACK, seen
    finally:
        os.kill(pid, signal.SIGCONT)
    settled_healthy(stack)  # the next test starts from fresh verdicts
