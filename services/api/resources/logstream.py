"""GET .../records/{recordid}/logstream: a record's log over a WebSocket, one frame per line,
or with `?batch=true` one frame per group of lines (a JSON array).

Replays what is stored, then follows live batches announced by the logs service. Both come
from storage order (line numbers), so the seam between them has no gap and no duplicate:
live batches already sent are skipped, and a batch that arrives after a gap sends the
follower back to storage for the missing lines. `?from=N` resumes after the N lines a client
already has. The socket closes with 1000 once the record has finished and every line is sent.

A frame per line is the simplest client, but it costs the gateway a frame (and a send) per
line per follower: 50 followers of a record printing 1,000 lines/s were 50,000 frames/s, more
than one process sends without falling seconds behind (bench/logs.py, fan-out). Batch frames
carry what arrived together (a live batch, or a storage read), so the frames follow the
worker's batches, not its lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import falcon.asgi
from falcon import WebSocketDisconnected

from services.api.application.runs import Runs
from services.api.clients import LogsClient, SchedulerClient
from services.api.domain import livelines, queries, schemas
from services.api.domain.errors import NotFound
from services.api.errors import ApiError
from services.api.http import query_flag, query_int
from services.api.live import FOLLOWER_BACKLOG, Follower, LiveHub
from services.api.resources.records import _Scoped
from shared.contracts.logs import LogBatch
from shared.contracts.records import TERMINAL

READ_CHUNK = 2000
IDLE_CHECK = 1.0  # seconds without live batches before storage and the record are checked
REORDER_WAIT = 0.5  # seconds a live batch after a gap waits for the batches before it
# (they came up to ~300 ms late with 200 followers; a lost announcement costs this much)


class _Stream:
    """The cursor of one connection: whole-record line number, frames still to skip."""

    def __init__(
        self,
        ws: falcon.asgi.WebSocket,
        stage: str | None,
        task: str | None,
        skip: int,
        batch: bool = False,
    ) -> None:
        self.ws = ws
        self.batch = batch
        self.stage = stage
        self.task = task
        self.filtered = stage is not None or task is not None
        self.after = 0 if self.filtered else skip
        self.skip = skip if self.filtered else 0

    def wanted(self, batch: LogBatch) -> bool:
        if self.stage is not None and batch.get("stage") != self.stage:
            return False
        return self.task is None or batch.get("task") == self.task

    async def send(self, lines: list[str]) -> None:
        if self.skip:
            dropped = min(self.skip, len(lines))
            lines = lines[dropped:]
            self.skip -= dropped
        if not lines:
            return
        if self.batch:
            for part in _parts(lines):
                await self.ws.send_text(json.dumps(part, ensure_ascii=False))
            return
        for line in lines:
            await self.ws.send_text(line)


BATCH_FRAME_CHARS = 1024 * 1024  # a batch frame's lines, at most (one longer line alone)


def _parts(lines: list[str]) -> list[list[str]]:
    """`lines` cut into frames of at most BATCH_FRAME_CHARS characters, in order: a storage read
    can be 2,000 lines of up to 4 MiB each, too much for one frame a browser must hold."""
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) > BATCH_FRAME_CHARS:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line)
    return parts


def _query(req: falcon.asgi.Request) -> tuple[str | None, str | None, int, bool]:
    """`stage` (a stage name; empty or absent: all), `task`, `from` (lines to skip),
    `batch` (frames of several lines)."""
    stage = req.get_param(queries.STAGE["name"]) or None
    task = req.get_param(queries.TASK["name"]) or None
    if stage is not None and stage not in schemas.STAGES:
        raise ApiError(400, f"unknown stage {stage!r}; one of {list(schemas.STAGES)}")
    skip = query_int(req, queries.FROM["name"], 0)
    return stage, task, skip, query_flag(req, queries.BATCH["name"])


class RecordLogStream(_Scoped):
    def __init__(
        self, runs: Runs, scheduler: SchedulerClient, logs: LogsClient, hub: LiveHub
    ) -> None:
        super().__init__(runs, scheduler, logs)
        self._hub = hub

    async def on_get(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        """A plain GET is answered as the WebSocket's handshake would be (400 for a bad query,
        404 for no such record), then 426: the log only streams over a WebSocket."""
        _query(req)
        await self._runs.record(project, pipeline, recordid)
        raise ApiError(
            426,
            "this endpoint is a WebSocket: connect with 'Upgrade: websocket'",
            "UpgradeRequired",
        )

    async def on_websocket(
        self,
        req: falcon.asgi.Request,
        ws: falcon.asgi.WebSocket,
        project: str,
        pipeline: str,
        recordid: str,
    ) -> None:
        stage, task, skip, batch = _query(req)
        record = await self._runs.record(project, pipeline, recordid)
        if stage is not None and stage not in record["stageStatus"]:
            raise NotFound(f"stage {stage} is not part of record {recordid}")
        await ws.accept()
        stream = _Stream(ws, stage, task, skip, batch)
        follower = Follower()
        await self._hub.follow(recordid, follower)
        try:
            await self._serve(recordid, stream, follower)
        except WebSocketDisconnected:
            return
        finally:
            self._hub.leave(recordid, follower)
        with contextlib.suppress(WebSocketDisconnected):
            await ws.close(1000)

    async def _catch_up(self, record_id: str, stream: _Stream) -> tuple[bool, int]:
        """Send what storage has after the cursor: (log complete, lines read)."""
        total = 0
        while True:
            chunk = await self._logs.read_log(
                record_id, stream.stage, stream.task, stream.after, READ_CHUNK
            )
            await stream.send(chunk["lines"])
            total += len(chunk["lines"])
            stream.after = max(stream.after, chunk["next"])
            if chunk["complete"]:
                return True, total
            if len(chunk["lines"]) < READ_CHUNK:
                return False, total

    async def _serve(self, record_id: str, stream: _Stream, follower: Follower) -> None:
        complete, _ = await self._catch_up(record_id, stream)
        held: dict[int, LogBatch] = {}  # live batches not sent yet, by first line number
        gap_until: float | None = None  # when held batches stop waiting for those before them
        quiet_after_end = 0
        loop = asyncio.get_running_loop()
        while not complete:
            wait = IDLE_CHECK if gap_until is None else max(0.0, gap_until - loop.time())
            try:
                batch = await asyncio.wait_for(follower.batches.get(), wait)
            except TimeoutError:
                if held:  # what they wait for did not come live: storage has it (or will)
                    complete, _ = await self._catch_up(record_id, stream)
                    complete = complete or await self._release(stream, held)
                    # Still a gap: storage lacks it too (a store being retried). Ask again
                    # only after IDLE_CHECK: every follower asking every REORDER_WAIT would
                    # be the storm the wait is there to avoid.
                    gap_until = loop.time() + IDLE_CHECK if held else None
                    continue
                complete, got = await self._catch_up(record_id, stream)
                if complete:
                    return
                status = (await self._scheduler.get_record(record_id))["status"]
                # A finished record whose worker never sent its end marker (killed): close
                # once storage has stayed quiet for two checks after the end.
                quiet_after_end = quiet_after_end + 1 if status in TERMINAL and not got else 0
                if quiet_after_end >= 2:
                    return
                continue
            # Everything that arrived goes out together: a follower that fell behind sends
            # fewer, bigger frames and so catches up, instead of a frame per batch.
            held[int(batch["seq"])] = batch
            while not follower.batches.empty():
                more = follower.batches.get_nowait()
                held[int(more["seq"])] = more
            if follower.overflowed or len(held) > FOLLOWER_BACKLOG:
                # A slow client (its queue overflowed), or a gap storage has not filled for
                # long: drop what is held and read storage instead.
                follower.overflowed = False
                held.clear()
                complete, _ = await self._catch_up(record_id, stream)
            else:
                complete = await self._release(stream, held)
            if not held:
                gap_until = None
            elif gap_until is None:
                gap_until = loop.time() + REORDER_WAIT

    @staticmethod
    async def _release(stream: _Stream, held: dict[int, LogBatch]) -> bool:
        """Send the held batches that continue the stream (domain/livelines.py) as one send;
        True once the log is complete.

        A batch after a gap used to send the follower to storage at once: every follower
        called the logs service per reordered batch, the reads queued and loaded the
        database storing the batches, and the lag grew (200 followers: 20-49 s behind;
        bench/logs.py fan-out). Under that load the batch before it came up to about 300 ms
        later, so one after a gap waits up to REORDER_WAIT first."""
        out = livelines.in_line(held, stream.after, stream.wanted)
        stream.after = out.after
        await stream.send(out.lines)
        return out.complete
