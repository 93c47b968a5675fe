"""Everything the worker sends: batched log lines (kombu), events and heartbeats (nameko).

Log lines go in `LogBatch` messages on a durable queue the worker declares itself, so lines
published before the logs service starts wait in the broker. Messages are persistent and
confirmed by the broker: once `flush()` returns, the lines are safe, which is why a stage's
lines are flushed before its STAGE_FINISHED event is sent.

Confirms are pipelined: up to WINDOW batches are in flight at once, not one round trip per
batch (bench/logs.py: the ingest was half the raw broker's rate waiting for each). A batch
stays held until the broker confirms it; when the connection breaks or the broker refuses
one, every batch not yet confirmed is published again, in order, on a new connection. The
logs service stores a batch once whatever the copies (by its first line number), so a line
is stored once, in order, whichever copy arrives.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

from kombu import Connection, Exchange, Producer, Queue

from services.worker.bus import (
    BROKER_ERRORS,
    CONFIRM_TIMEOUT,
    MAX_RETRIES,
    EventSender,
    retry_pause,
)
from shared import brokers, fastjson, timefmt, workertoken
from shared.contracts import events, logs

# Flush when this many lines are pending... 1,000, not 200: the logs service's and the
# database's cost is mostly per message, so fast output is stored twice as fast (bench.logs
# ingest 210k -> 420k lines/s); a line's wait is bounded by BATCH_DELAY all the same.
BATCH_LINES = 1000
# ...or this long (seconds) after the first pending line: what a live follower waits at most
# for a line (bench.logs: 50 ms gave a p99 of 64 ms at 1,000 lines/s); at that rate it makes
# 100 messages a second, and fast output still fills batches of BATCH_LINES.
BATCH_DELAY = 0.01
# ...or when they hold this many characters: lines of up to 4 MiB each would make a message
# past the broker's limit (a line alone is at most 4 MiB: services/worker/lines.py)
BATCH_CHARS = 1024 * 1024
WINDOW = 16  # batches published and not yet confirmed, at most


class Refused(Exception):
    """The broker nacked a batch (it could not take it): published again."""


class LogPublisher:
    """Numbers lines from 1 over the whole record and publishes them in batches of one stage.

    Thread-safe: command output arrives from a reader thread while the runtime writes framing
    lines; one lock orders both, and a background thread flushes batches that wait too long.
    """

    def __init__(
        self,
        amqp_uri: str,
        record_id: str,
        *,
        token: str = "",
        batch_lines: int = BATCH_LINES,
        batch_delay: float = BATCH_DELAY,
        batch_chars: int = BATCH_CHARS,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        self.record_id = record_id
        self.token = token
        self.batch_lines = batch_lines
        self.batch_delay = batch_delay
        self.batch_chars = batch_chars
        self.confirm_timeout = confirm_timeout  # as EventSender's: then a new connection
        self._pending_chars = 0
        self.messages = 0  # messages published so far (the eof marker included)
        self.recoveries = 0  # times the unconfirmed batches went again on a new connection
        self._conn = Connection(amqp_uri, connect_timeout=10)
        exchange = Exchange(logs.EXCHANGE, type="direct", durable=True)
        queue = Queue(logs.QUEUE, exchange, routing_key=logs.ROUTING_KEY, durable=True)
        # of the type the logs service declares: the cloud service sets CYCLONE_QUORUM_QUEUES
        self._queue = brokers.durable(queue, brokers.quorum_wanted(os.environ, amqp_uri))
        self._exchange = exchange
        self._producer: Producer | None = None
        # delivery tag -> batch, in publish order, until the broker confirms it
        self._unconfirmed: OrderedDict[int, logs.LogBatch] = OrderedDict()
        self._next_tag = 1
        self._refused = False
        # line() takes the lock itself: the Condition's own `with` adds a Python call per line
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: list[str] = []
        self._stage = ""
        self._next_seq = 1
        self._deadline: float | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._flusher = threading.Thread(target=self._flush_when_due, daemon=True, name="logs")
        self._flusher.start()

    @property
    def total(self) -> int:
        """Lines published or pending."""
        with self._cond:
            return self._next_seq - 1 + len(self._pending)

    def line(self, stage: str, text: str) -> None:
        # Called once per line (a million in bench.logs' ingest): kept to plain local reads.
        size = len(text)
        with self._lock:
            if self._error is not None or self._closed:
                self._raise_error()
                raise RuntimeError("the log is closed")
            pending = self._pending
            if pending and (
                stage != self._stage  # a batch holds the lines of one stage
                or self._pending_chars + size > self.batch_chars
            ):
                self._flush_locked()
                pending = self._pending
            if not pending:
                self._stage = stage
                self._deadline = time.monotonic() + self.batch_delay
                self._cond.notify()
            pending.append(text)
            chars = self._pending_chars = self._pending_chars + size
            if len(pending) >= self.batch_lines or chars >= self.batch_chars:
                self._flush_locked()

    def flush(self) -> None:
        """Return once every line so far is confirmed by the broker."""
        with self._cond:
            self._raise_error()
            self._flush_locked()
            self._settle(0)

    def end(self, stage: str) -> int:
        """Publish the end of the log and close; returns how many lines there were.

        The end rides on the last lines when some are pending (a message fewer per record:
        a trivial record sent four or five); else it goes alone, on no lines."""
        with self._cond:
            if self._closed:
                return self._next_seq - 1
            self._raise_error()
            if not self._pending:
                self._stage = stage  # the end goes alone, under the stage it names
            self._flush_locked(eof=True)
            self._settle(0)
            self._closed = True
            self._cond.notify()
        self._conn.release()
        return self._next_seq - 1

    def _flush_locked(self, eof: bool = False) -> None:
        """Publish the pending lines as a batch; with `eof`, the end of the log, lines or not."""
        if not self._pending and not eof:
            return
        batch: logs.LogBatch = {
            "record_id": self.record_id,
            "seq": self._next_seq,
            "stage": self._stage,
            "lines": self._pending,
        }
        if eof:
            batch["eof"] = True
        self._publish(batch)
        self._next_seq += len(self._pending)
        self._pending = []
        self._pending_chars = 0
        self._deadline = None

    def _publish(self, batch: logs.LogBatch) -> None:
        """Publish a batch, held until confirmed; waits for confirms past WINDOW in flight."""
        signed: logs.LogBatch = {**batch, "worker_mac": workertoken.batch_mac(self.token, batch)}
        try:
            self._send(signed)
        except BROKER_ERRORS:  # sent again after those in flight, in order
            self._recover([*self._unconfirmed.values(), signed])
        self.messages += 1
        if len(self._unconfirmed) >= WINDOW:
            self._settle(WINDOW - 1)

    def _send(self, signed: logs.LogBatch) -> None:
        """Publish without waiting; held in `_unconfirmed` once the publish returned."""
        if self._producer is None:
            self._open()
        assert self._producer is not None
        self._producer.publish(
            fastjson.dumps(signed),
            routing_key=logs.ROUTING_KEY,
            delivery_mode=2,  # persistent
            **fastjson.CONTENT,
        )
        self._unconfirmed[self._next_tag] = signed
        self._next_tag += 1

    def _open(self) -> None:
        """A channel in confirm mode, its delivery tags counted from 1, the queue declared."""
        channel = self._conn.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._acked)
        channel.events["basic_nack"].add(self._nacked)
        self._queue(channel).declare()  # the exchange, the queue and its binding
        self._producer = Producer(channel, exchange=self._exchange)
        self._next_tag = 1

    def _acked(self, tag: int, multiple: bool) -> None:
        if multiple:
            while self._unconfirmed and next(iter(self._unconfirmed)) <= tag:
                self._unconfirmed.popitem(last=False)
        else:
            self._unconfirmed.pop(tag, None)

    def _nacked(self, _tag: int, _multiple: bool) -> None:
        self._refused = True

    def _settle(self, most: int) -> None:
        """Wait until at most `most` batches are unconfirmed, publishing them again on a new
        connection when it breaks or the broker refuses one."""
        while len(self._unconfirmed) > most:
            try:
                self._conn.drain_events(timeout=self.confirm_timeout)
                if self._refused:
                    raise Refused("the broker refused a log batch")
            except (*BROKER_ERRORS, Refused):
                self._recover(list(self._unconfirmed.values()))

    def _recover(self, pending: list[logs.LogBatch]) -> None:
        """A new connection, and the batches not confirmed published again in order (the logs
        service keeps one copy); gives up after MAX_RETRIES more tries."""
        self.recoveries += 1
        for attempt in range(MAX_RETRIES + 1):
            self._unconfirmed.clear()
            self._refused = False
            self._producer = None
            self._conn.collect()  # the broken connection's resources, without talking to it
            try:
                self._conn.ensure_connection(max_retries=1)
                for signed in pending:
                    self._send(signed)
                return
            except BROKER_ERRORS:
                if attempt == MAX_RETRIES:
                    raise
                retry_pause(attempt)

    def _flush_when_due(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None or self._error is not None:
                    self._cond.wait()
                    continue
                delay = self._deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                try:
                    self._flush_locked()
                except Exception as exc:  # noqa: BLE001 - handed to the writer on its next call
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"publishing log lines failed: {self._error}") from self._error


class EventPublisher:
    """Worker events (STAGE_*, RUN_FINISHED) on nameko's event exchange of the worker, each
    with the worker's token (shared/workertoken.py), without which the scheduler ignores it."""

    def __init__(self, amqp_uri: str, token: str = "") -> None:
        self._dispatch = EventSender(amqp_uri)
        self._token = token

    def event(self, event: tuple[str, str], payload: Mapping[str, object]) -> None:
        self._dispatch(event[0], event[1], {**payload, workertoken.FIELD: self._token})


class BusSink:
    """The runtime's sink on the real bus: log lines through LogPublisher, events through
    EventPublisher."""

    def __init__(self, amqp_uri: str, record_id: str, token: str = "") -> None:
        self.logs = LogPublisher(amqp_uri, record_id, token=token)
        self.events = EventPublisher(amqp_uri, token)

    def line(self, stage: str, text: str) -> None:
        self.logs.line(stage, text)

    def flush(self) -> None:
        self.logs.flush()

    def end(self, stage: str) -> int:
        return self.logs.end(stage)

    def event(self, event: tuple[str, str], payload: Mapping[str, object]) -> None:
        self.events.event(event, payload)


class Heartbeat:
    """Sends HEARTBEAT every `interval` seconds from a thread, from `start()` to `stop()`, so the
    scheduler can tell a silent worker from a lost one.

    With `quiet_until` (an event), the first beat waits for it: when it is set within `late`
    seconds (the worker's job arrived: its first stage's start follows at once, which the
    scheduler counts as a beat, as every stage report), beating starts one interval later,
    so a short record opens no connection for beats; if it is not, beating starts at once
    (a scheduler slow to answer still hears the worker)."""

    def __init__(
        self,
        amqp_uri: str,
        record_id: str,
        interval: float = events.HEARTBEAT_INTERVAL,
        token: str = "",
        quiet_until: threading.Event | None = None,
        late: float = 1.0,
    ) -> None:
        self.record_id = record_id
        self.token = token
        self.interval = interval
        self.quiet_until, self.late = quiet_until, late
        self.sent = 0
        self._dispatch = EventSender(amqp_uri)  # its own connection: another thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        if self.quiet_until is not None and self.quiet_until.wait(self.late):
            self._stop.wait(self.interval)
        while not self._stop.is_set():
            payload = events.Heartbeat(
                record_id=self.record_id, time=timefmt.rfc3339(timefmt.now()) or ""
            )
            try:
                self._dispatch(*events.HEARTBEAT, {**payload, workertoken.FIELD: self.token})
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                print(f"worker: heartbeat failed: {exc}", file=sys.stderr)
            self._stop.wait(self.interval)
