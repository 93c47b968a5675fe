"""One record's run: its stages in order, each framed in the log and reported by events.

The runtime takes the job and a sink (where lines and events go) as plain arguments, so tests
can run it against a real broker vhost or an in-memory sink without a scheduler. Every line
and error is masked here, before any sink sees it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from services.worker import domain
from services.worker.domain import ABORTED, CHECKOUT, FAILED, SUCCESS, Failure
from services.worker.stages import Context, StageAborted, StageFailed, checkout, commands
from shared import timefmt
from shared.contracts import events
from shared.contracts.rpc import Job


class Sink(Protocol):
    """Where a run's log lines and events go (publisher.BusSink on the bus)."""

    def line(self, stage: str, text: str) -> None: ...
    def flush(self) -> None: ...
    def end(self, stage: str) -> int: ...
    def event(self, event: tuple[str, str], payload: Mapping[str, Any]) -> None: ...


@dataclass
class StageResult:
    stage: str
    status: str
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        job: Job | Mapping[str, Any],
        sink: Sink,
        workspace: Path,
        abort: threading.Event,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = timefmt.now,
    ) -> None:
        self.job = job
        self.sink = sink
        self.workspace = workspace
        self.abort = abort
        self.env = dict(os.environ if env is None else env)
        self.clock = clock
        self.record_id = str(job["record_id"])
        self.mask = domain.Masker(domain.job_secrets(job))
        self.results: list[StageResult] = []

    def run(self) -> str:
        """Run the stages; returns the final status once RUN_FINISHED is sent."""
        stages = domain.run_order(self.job.get("stages") or [])
        status, stopped_by, allowed = SUCCESS, None, []
        last = stages[0]
        for stage in stages:
            if self.abort.is_set():
                status, stopped_by = ABORTED, Failure(stage, "aborted")
                break
            last = stage
            result = self.run_stage(stage)
            if result.status == SUCCESS:
                continue
            failure = Failure(stage, result.error)
            if result.status == ABORTED:
                status, stopped_by = ABORTED, failure
                break
            allow = domain.stage_config(self.job.get("pipeline") or {}, stage).get("allowFailure")
            if allow and stage != CHECKOUT:
                allowed.append(failure)
                continue
            status, stopped_by = FAILED, failure
            break
        self.finish(status, domain.run_error(stopped_by, allowed), last)
        return status

    def finish(self, status: str, error: str, last_stage: str) -> None:
        """End the log (flush and end-of-log marker), then RUN_FINISHED with the line count."""
        total = self.sink.end(last_stage)
        payload = events.RunFinished(
            record_id=self.record_id, status=status, time=self._now(), log_lines=total
        )
        if error:
            payload["error"] = self.mask(error)
        self.sink.event(events.RUN_FINISHED, payload)

    def run_stage(self, stage: str) -> StageResult:
        self.sink.event(
            events.STAGE_STARTED,
            events.StageStarted(record_id=self.record_id, stage=stage, time=self._now()),
        )
        log = self._logger(stage)
        log(domain.frame_start(stage))
        ctx = Context(self.job, self.workspace, log, self.abort, self.env)
        try:
            result = StageResult(stage, SUCCESS, details=self._execute(stage, ctx))
        except StageAborted:
            result = StageResult(stage, ABORTED, "aborted")
        except StageFailed as exc:
            result = StageResult(stage, FAILED, self.mask(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug fails the stage, with its reason
            result = StageResult(stage, FAILED, self.mask(f"internal error: {exc!r}"))
        if result.status == FAILED and self.abort.is_set():
            result = StageResult(stage, ABORTED, "aborted")  # the failure came from stopping
        if result.status == SUCCESS:
            log(domain.frame_finish(stage))
        else:
            log(domain.frame_fail(stage, result.error))
        self.sink.flush()  # the stage's lines are in the broker before its finish event
        self.sink.event(events.STAGE_FINISHED, self._finished_payload(result))
        self.results.append(result)
        return result

    def _execute(self, stage: str, ctx: Context) -> dict[str, Any]:
        reason = domain.unavailable_reason(stage)
        if reason:
            raise StageFailed(reason)
        if stage == CHECKOUT:
            return checkout.run(ctx)
        return commands.run(ctx, stage)

    def _finished_payload(self, result: StageResult) -> events.StageFinished:
        payload = events.StageFinished(
            record_id=self.record_id, stage=result.stage, status=result.status, time=self._now()
        )
        if result.error:
            payload["error"] = result.error
        if result.status == SUCCESS and result.details:
            payload["details"] = result.details
            commit = (result.details.get("commits") or {}).get("mainRepo") or {}
            if result.stage == CHECKOUT and commit.get("ID") and not self.job.get("record_name"):
                payload["record_name"] = domain.record_name(commit["ID"], self.clock())
        return payload

    def _logger(self, stage: str) -> Callable[[str], None]:
        def log(text: str) -> None:
            for part in text.split("\n"):
                self.sink.line(stage, self.mask(part.removesuffix("\r")))

        return log

    def _now(self) -> str:
        return timefmt.rfc3339(self.clock()) or ""
