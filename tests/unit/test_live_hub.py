"""A live-log follower whose bind never completes (no broker) is released, not kept forever."""

from __future__ import annotations

import asyncio

import pytest

from services.api.live import Follower, LiveHub
from tools.stack import free_port


def test_a_follower_whose_bind_times_out_is_released():
    async def scenario() -> None:
        hub = LiveHub(f"amqp://guest:guest@127.0.0.1:{free_port()}//", bind_timeout=0.5)
        hub.start()  # its consumer thread keeps failing to connect: nothing listens there
        try:
            with pytest.raises(TimeoutError):
                await hub.follow("r1", Follower())
            assert hub._followers == {}
        finally:
            hub.stop()

    asyncio.run(scenario())
