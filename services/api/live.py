"""Live log batches for the WebSocket followers of one gateway process.

One kombu consumer thread per process holds an exclusive queue bound to the logs service's
live exchange, one binding per followed record. Each message carries one record's batches
stored together (shared/contracts/logs.LiveBatches); they are handed to the followers' asyncio
queues in order without waiting: a slow follower overflows its own queue (and then catches up
from storage) instead of holding up the others. A message that is not a LiveBatches is
dropped where it arrives, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Callable

import kombu

from shared import metrics
from shared.contracts import logs
from shared.contracts.boundary import MalformedPayload, check
from shared.contracts.logs import LiveBatches, LogBatch

log = logging.getLogger(__name__)

FOLLOWER_BACKLOG = 256  # batches a follower may have waiting before it falls back to storage


class Follower:
    """One WebSocket's view of the live stream."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[LogBatch] = asyncio.Queue(FOLLOWER_BACKLOG)
        self.overflowed = False

    def offer(self, batch: LogBatch) -> None:
        try:
            self.batches.put_nowait(batch)
        except asyncio.QueueFull:
            self.overflowed = True


class LiveHub:
    def __init__(self, amqp_uri: str, bind_timeout: float = 10.0) -> None:
        self._uri = amqp_uri
        self.bind_timeout = bind_timeout
        self._followers: dict[str, set[Follower]] = {}
        self._commands: queue.Queue[tuple[str, str, Callable[[], None]]] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="live-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    async def follow(self, record_id: str, follower: Follower) -> None:
        """Register, and return only once batches of the record reach this process."""
        followers = self._followers.setdefault(record_id, set())
        followers.add(follower)
        metrics.FOLLOWERS.inc()
        if len(followers) == 1:
            try:
                await self._command("bind", record_id)
            except BaseException:
                # A bind that timed out (broker gone) or a client that hung up meanwhile: the
                # caller never gets to leave, so the follower is released here.
                self.leave(record_id, follower)
                raise

    def leave(self, record_id: str, follower: Follower) -> None:
        followers = self._followers.get(record_id)
        if followers is None or follower not in followers:
            return
        followers.discard(follower)
        metrics.FOLLOWERS.dec()
        if not followers:
            del self._followers[record_id]
            self._commands.put(("unbind", record_id, lambda: None))

    async def _command(self, what: str, record_id: str) -> None:
        assert self._loop is not None
        done = self._loop.create_future()

        def finished() -> None:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._finish, done)

        self._commands.put((what, record_id, finished))
        await asyncio.wait_for(done, self.bind_timeout)

    @staticmethod
    def _finish(done: asyncio.Future[None]) -> None:
        if not done.done():
            done.set_result(None)

    def _deliver(self, live: LiveBatches) -> None:
        followers = list(self._followers.get(live["record_id"], ()))
        for batch in live["batches"]:
            for follower in followers:
                follower.offer(batch)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._consume()
            except Exception:  # broker gone: followers poll storage meanwhile
                log.warning("live log consumer lost its connection; reconnecting", exc_info=True)
                self._stopping.wait(1)

    def _consume(self) -> None:
        exchange = kombu.Exchange(logs.LIVE_EXCHANGE, type="topic", durable=True)
        name = f"cyclone.logs.live.{uuid.uuid4().hex[:12]}"
        with kombu.Connection(self._uri, heartbeat=30) as conn:
            channel = conn.channel()
            exchange(channel).declare()
            bound = kombu.Queue(name, exchange, exclusive=True, auto_delete=True)(channel)
            bound.declare()
            for record_id in list(self._followers):  # after a reconnect
                bound.bind_to(exchange, routing_key=record_id)

            def on_message(body: object, message: kombu.Message) -> None:
                try:
                    live = check(LiveBatches, body, "live log batches")
                except MalformedPayload as exc:
                    log.warning("dropped a live log message: %s", exc)
                else:
                    if self._loop is not None:
                        self._loop.call_soon_threadsafe(self._deliver, live)
                message.ack()

            with conn.Consumer(bound, callbacks=[on_message], accept=["json"]):
                while not self._stopping.is_set():
                    self._apply_commands(bound, exchange)
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.05)
                    conn.heartbeat_check()

    def _apply_commands(self, bound: kombu.Queue, exchange: kombu.Exchange) -> None:
        while True:
            try:
                what, record_id, done = self._commands.get_nowait()
            except queue.Empty:
                return
            if what == "bind":
                bound.bind_to(exchange, routing_key=record_id)
            elif record_id not in self._followers:
                bound.unbind_from(exchange, routing_key=record_id)
            done()
