"""Publishing the gateway's events through its outbox (store.Outbox)."""

from __future__ import annotations

import asyncio
import logging

from services.api.clients import Bus
from services.api.store import Announced, Outbox

log = logging.getLogger(__name__)


class EventPublisher:
    """Writes events to the outbox, then drains it now and every `interval` seconds."""

    def __init__(self, outbox: Outbox, bus: Bus, interval: float = 2.0) -> None:
        self._outbox = outbox
        self._bus = bus
        self._interval = interval
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    async def announce(self, announced: list[Announced]) -> None:
        await self._outbox.add(announced)
        await self.flush()

    async def flush(self) -> int:
        async with self._lock:
            try:
                return await self._outbox.drain(self._bus.dispatch)
            except Exception:
                log.warning("event publish failed; will retry", exc_info=True)
                return 0

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
