"""/healthz under load: however often it is asked, each gateway process makes at most one check
(a MongoDB ping and a ping of every service) at a time, and serves a verdict again only while it
is at most 1 s old (services/api/resources/meta.py). Counted by the gateway's own metric."""

from __future__ import annotations

import asyncio
import math
import time

import httpx

from services.api.resources.meta import HEALTH_MAX_AGE

BURST = 300
API_WORKERS = 2  # CYCLONE_API_WORKERS of the test stack (tests/support.py)


def checks_made(stack) -> float:
    text = httpx.get(stack.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("cyclone_health_checks_total "):
            return float(line.split()[1])
    return 0.0


def test_a_burst_of_healthz_costs_a_few_checks(stack):
    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=stack.url, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(*(client.get("/healthz") for _ in range(BURST)))
        return [a.status_code for a in answers]

    before = checks_made(stack)
    started = time.monotonic()
    statuses = asyncio.run(burst())
    elapsed = time.monotonic() - started
    made = checks_made(stack) - before
    # Every answer is a verdict (on a loaded machine a service may miss its ping: 503 is a
    # verdict too); what must not happen is an error of the burst itself.
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses.count(200) > 0
    # Per gateway process: one check in flight at a time, one verdict per HEALTH_MAX_AGE.
    bound = API_WORKERS * (math.ceil(elapsed / HEALTH_MAX_AGE) + 1)
    assert 1 <= made <= bound, f"{made} checks for {BURST} requests in {elapsed:.1f}s"
    assert made < BURST / 10
