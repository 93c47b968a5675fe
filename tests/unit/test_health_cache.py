"""`Recent` (services/api/resources/meta.py): what /healthz answers from. A verdict is served
again while at most max_age old, and callers during a check share it."""

from __future__ import annotations

import asyncio

from services.api.resources.meta import Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_callers_share_one_check_and_reuse_it_for_max_age():
    clock = Clock()
    calls = 0
    release = asyncio.Event()

    async def check() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    async def scenario() -> None:
        recent = Recent(check, 1.0, clock)
        waiting = [asyncio.ensure_future(recent.get()) for _ in range(500)]
        for _ in range(3):  # the callers run, then the one check they started
            await asyncio.sleep(0)
        assert calls == 1
        release.set()
        assert set(await asyncio.gather(*waiting)) == {1}
        clock.now += 1.0  # exactly max_age old: still served
        assert await recent.get() == 1 and calls == 1
        clock.now += 0.01  # older: a new check
        assert await recent.get() == 2 and calls == 2

    asyncio.run(scenario())


def test_a_caller_that_goes_away_does_not_cancel_the_shared_check():
    clock = Clock()
    release = asyncio.Event()

    async def check() -> str:
        await release.wait()
        return "ok"

    async def scenario() -> None:
        recent = Recent(check, 1.0, clock)
        first = asyncio.ensure_future(recent.get())
        second = asyncio.ensure_future(recent.get())
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        assert await second == "ok"

    asyncio.run(scenario())


def test_a_failed_check_is_not_kept():
    clock = Clock()
    outcomes = [RuntimeError("down"), "ok"]

    async def check() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def scenario() -> None:
        recent = Recent(check, 1.0, clock)
        try:
            await recent.get()
        except RuntimeError:
            pass
        else:
            raise AssertionError("the failure was not passed on")
        assert await recent.get() == "ok"

    asyncio.run(scenario())
