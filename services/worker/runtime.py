"""One record's run: its stages in order, each framed in the log and reported by events.

The runtime takes the job and a sink (where lines and events go) as plain arguments, so tests
can run it against a real broker vhost or an in-memory sink without a scheduler. Every line
and error is masked here, before any sink sees it, secrets printed over several lines too.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from services.worker import domain, executors
from services.worker.artifacts import Aborted as ArtifactAborted
from services.worker.artifacts import ArtifactClient, ArtifactError
from services.worker.domain import CHECKOUT, Failure
from services.worker.executors import Executor
from services.worker.imaging import EngineError
from services.worker.stages import (
    Context,
    RunState,
    StageAborted,
    StageFailed,
    checkout,
    commands,
)
from shared import dockerengine, timefmt, tracing
from shared.contracts import errors, events
from shared.contracts.artifacts import Artifact, Restore
from shared.contracts.launch import LaunchError, WorkerLaunch
from shared.contracts.records import RecordStatus, StageDetails, StageStatus
from shared.contracts.rpc import Job

if TYPE_CHECKING:
    from services.worker.engine import Engine

CONTRACT_ERRORS = (errors.NotFound, errors.InvalidRequest, errors.Unauthorized, TimeoutError)
HOLD = 0.05  # a line held back for masking is released once output is quiet this long (s)


class Sink(Protocol):
    """Where a run's log lines and events go (publisher.BusSink on the bus)."""

    def line(self, stage: str, text: str) -> None: ...
    def flush(self) -> None: ...
    def end(self, stage: str) -> int: ...
    def event(self, event: tuple[str, str], payload: Mapping[str, object]) -> None: ...


@dataclass
class StageResult:
    stage: str
    status: StageStatus
    error: str = ""
    details: StageDetails = field(default_factory=lambda: StageDetails())


class Runner:
    def __init__(
        self,
        job: Job,
        sink: Sink,
        workspace: Path,
        abort: threading.Event,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = timefmt.now,
        artifacts: ArtifactClient | None = None,
    ) -> None:
        self.job = job
        self.artifacts = artifacts
        self.workspace = workspace
        self.abort = abort
        self.env = dict(os.environ if env is None else env)
        self.clock = clock
        self.record_id = str(job["record_id"])
        self.masker = domain.SecretMasker(domain.job_secrets(job))
        self.sink = MaskingSink(sink, self.masker)
        self.results: list[StageResult] = []
        self.state = RunState(record_name=job.get("record_name") or "")
        self.engine: Engine | None = None
        self.executor: Executor | None = None
        self.setup_error = ""  # why no stage can run (the cloud's engine is unusable)
        # The last stage's end, held for RUN_FINISHED when the scheduler takes it there
        # (Job.end_takes_stage); an earlier stage's goes out as the next one starts, inside
        # its STAGE_STARTED when the scheduler takes it there too (Job.start_takes_stage).
        self._held: events.StageFinished | None = None

    def run(self) -> str:
        """Run the stages; returns the final status once RUN_FINISHED is sent."""
        stages = domain.run_order(self.job.get("stages", []))
        reused = self.job.get("reused", [])
        self.state.planned = [*stages, *reused]
        for stage in reused:  # a rerun's stages that ran before: their result stands
            self.state.statuses[stage] = StageStatus.SUCCESS
        self._set_up()
        try:
            return self._run(stages)
        finally:
            self._tear_down()

    def _set_up(self) -> None:
        """Where commands run (the executor of the launch's cloud type: services/worker/
        executors) and the Docker engine of the image stages, when the launch names one. A
        broken setting fails the stages, not the worker."""
        project = self.job.get("project") or {}
        pipeline = self.job.get("pipeline") or {}
        try:
            launched = WorkerLaunch.from_env(self.env)
            self.engine = executors.open_engine(
                launched,
                self.record_id,
                str(project.get("name") or ""),
                str(pipeline.get("name") or ""),
            )
            setting = executors.Setting(launched, self.job, self.workspace, self.env, self.engine)
            self.executor = executors.set_up(setting)
        except (LaunchError, executors.SetupError) as exc:
            self.setup_error = str(exc)

    def _tear_down(self) -> None:
        """Everything the run made on the engine goes, after the run is reported finished: a
        user waits for the result, not for the removal (about 0.2 s on a Docker cloud). The
        cloud service removes it again after the worker exits, in case we could not."""
        executor, self.executor = self.executor, None
        engine, self.engine = self.engine, None
        try:
            if executor is not None:
                executor.close()  # what it still does on the engine ends first
        finally:
            if engine is not None:
                try:
                    engine.remove_all()
                finally:
                    engine.close()

    def _run(self, stages: list[str]) -> str:
        status, stopped_by, allowed = RecordStatus.SUCCESS, None, []
        last = stages[0]
        for stage in stages:
            if self.abort.is_set():
                status, stopped_by = RecordStatus.ABORTED, Failure(stage, "aborted")
                break
            last = stage
            with tracing.span(f"stage {stage}") as span:
                result = self.run_stage(stage)
                span.set_attribute("cyclone.stage.status", result.status)
            if result.status in (StageStatus.SUCCESS, StageStatus.SKIPPED):
                continue
            failure = Failure(stage, result.error)
            if result.status == StageStatus.ABORTED:
                status, stopped_by = RecordStatus.ABORTED, failure
                break
            allow = domain.stage_config(self.job.get("pipeline", {}), stage).get("allowFailure")
            if allow and stage != CHECKOUT:
                allowed.append(failure)
                continue
            status, stopped_by = RecordStatus.FAILED, failure
            break
        self.finish(status, domain.run_error(stopped_by, allowed), last)
        return status

    def finish(self, status: str, error: str, last_stage: str) -> None:
        """End the log (its last lines and end-of-log marker), then RUN_FINISHED with the
        line count."""
        total = self.sink.end(last_stage)
        payload = events.RunFinished(
            record_id=self.record_id, status=status, time=self._now(), log_lines=total
        )
        if error:
            payload["error"] = self.masker.mask(error)
        if self.state.record_name and not self.job.get("record_name"):
            payload["record_name"] = self.state.record_name
        held, self._held = self._held, None
        if held is not None:
            payload["stage"] = held
        self.sink.event(events.RUN_FINISHED, payload)

    def _stage_ended(self, payload: events.StageFinished) -> None:
        """STAGE_FINISHED at once, its stage's lines in the broker before it; or, when the
        scheduler takes the last stage's end inside RUN_FINISHED, held until the next stage
        starts (it goes first then, a few µs late) or the run ends: a message fewer per run,
        and the last stage's end can no longer reach the scheduler after the run's (the two
        events travel on different queues), which then settled the stage as `assumed` and
        corrected it: three writes of the record. A held end's lines are flushed when it goes
        out; the last stage's ride with the end of the log (LogPublisher.end), a log message
        fewer."""
        if self.job.get("end_takes_stage"):
            self._held = payload
        else:
            self.sink.flush()
            self.sink.event(events.STAGE_FINISHED, payload)

    def run_stage(self, stage: str) -> StageResult:
        held, self._held = self._held, None
        if held is not None:
            self.sink.flush()  # the held stage's lines are in the broker before its end
            if not self.job.get("start_takes_stage"):
                self.sink.event(events.STAGE_FINISHED, held)
                held = None
        started = self._now()  # after the flush: the stage starts once the last one is out
        start = events.StageStarted(record_id=self.record_id, stage=stage, time=started)
        if held is not None:
            # one event for both, applied in order: a message fewer per stage after the first,
            # and the end no longer races the next start on another queue
            start["previous"] = held
        self.sink.event(events.STAGE_STARTED, start)
        log = self._logger(stage)
        log(domain.frame_start(stage))
        if stage == CHECKOUT:  # the first stage: an untrusted run says so, and why
            for line in domain.untrusted_notice(self.job):
                log(line)
        ctx = Context(
            self.job,
            self.workspace,
            log,
            self.abort,
            self.env,
            self.masker.mask,
            executor=self.executor,
            engine=self.engine,
            state=self.state,
            artifacts=self.artifacts,
        )
        self.state.failed_details = None
        skip = domain.skip_reason(stage, self.job)  # an untrusted run lacks what it needs
        try:
            if skip:
                result = StageResult(stage, StageStatus.SKIPPED, details={"skipReason": skip})
            else:
                details = self._execute(stage, ctx)
                result = StageResult(stage, StageStatus.SUCCESS, details=details)
        except StageAborted:
            result = StageResult(stage, StageStatus.ABORTED, "aborted")
        except StageFailed as exc:
            result = StageResult(stage, StageStatus.FAILED, self.masker.mask(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug fails the stage, with its reason
            why = f"Docker: {dockerengine.explain(exc)}" if _engine_error(exc) else None
            failed = self.masker.mask(why or f"internal error: {exc!r}")
            result = StageResult(stage, StageStatus.FAILED, failed)
        if result.status == StageStatus.FAILED and self.abort.is_set():
            # the failure came from stopping
            result = StageResult(stage, StageStatus.ABORTED, "aborted")
        if result.status != StageStatus.SUCCESS and self.state.failed_details:
            result.details = self.state.failed_details
        self.state.statuses[stage] = result.status
        if result.status == StageStatus.SUCCESS:
            log(domain.frame_finish(stage))
        elif result.status == StageStatus.SKIPPED:
            log(domain.frame_skip(stage, skip or ""))
        else:
            log(domain.frame_fail(stage, result.error))
        self._stage_ended(self._finished_payload(result, started))
        self.results.append(result)
        return result

    def _execute(self, stage: str, ctx: Context) -> StageDetails:
        reason = domain.unavailable_reason(stage, has_engine=self.engine is not None)
        if reason:
            raise StageFailed(reason)
        if self.setup_error:
            raise StageFailed(self.setup_error)
        if stage == CHECKOUT:
            restores = self._restorable(ctx)  # before the clone: a rerun fails at once
            details = checkout.run(ctx)
            self.state.commit = details.get("commits", {}).get("mainRepo", {}).get("ID") or ""
            self._restore(ctx, restores)
            if self.executor is not None:
                self.executor.after_checkout(ctx.log)
            return details
        handler = STAGE_HANDLERS.get(stage)
        if handler is not None:
            module, function = handler
            return getattr(importlib.import_module(module), function)(ctx)
        return commands.run(ctx, stage)

    def _restorable(self, ctx: Context) -> list[tuple[Restore, list[Artifact]]]:
        """A rerun's reused stages' artifacts, each checked to still exist."""
        restores = list(self.job.get("restore", []))
        if not restores:
            return []
        if self.artifacts is None:
            raise StageFailed("this worker cannot restore artifacts (no logs service)")
        found = []
        for restore in restores:
            try:
                found.append((restore, self.artifacts.manifest(restore)))
            except ArtifactError as exc:
                raise StageFailed(str(exc)) from exc
            except CONTRACT_ERRORS as exc:
                raise StageFailed(f"cannot list the artifacts to restore: {exc}") from exc
        return found

    def _restore(self, ctx: Context, found: list[tuple[Restore, list[Artifact]]]) -> None:
        """Into the checkout, before any other stage runs (and before the code is copied to
        a builder container, so the copy takes them along)."""
        for restore, items in found:
            assert self.artifacts is not None
            ctx.log(f"restoring the artifacts of stage {restore['stage']}")
            try:
                self.artifacts.restore(restore, items, ctx.code_dir, ctx.log)
            except ArtifactAborted as exc:
                raise StageAborted() from exc
            except ArtifactError as exc:
                raise StageFailed(str(exc)) from exc
            except CONTRACT_ERRORS as exc:
                raise StageFailed(f"cannot restore the artifacts: {exc}") from exc

    def _finished_payload(self, result: StageResult, started: str) -> events.StageFinished:
        payload = events.StageFinished(
            record_id=self.record_id,
            stage=result.stage,
            status=result.status,
            time=self._now(),
            started=started,
        )
        if result.error:
            payload["error"] = result.error
        if result.details:  # also a failed stage's tasks or measures, when it reports them
            payload["details"] = result.details
        if result.status == StageStatus.SUCCESS and result.details:
            commit = result.details.get("commits", {}).get("mainRepo", {}).get("ID")
            if result.stage == CHECKOUT and commit and not self.job.get("record_name"):
                payload["record_name"] = domain.record_name(commit, self.clock())
                self.state.record_name = payload["record_name"]
        return payload

    def _logger(self, stage: str) -> Callable[[str], None]:
        def log(text: str) -> None:
            for part in text.split("\n"):
                self.sink.line(stage, part.removesuffix("\r"))  # masked by the MaskingSink

        return log

    def _now(self) -> str:
        return timefmt.rfc3339(self.clock()) or ""


# Stages that need an engine, imported when they run (they import the docker SDK).
STAGE_HANDLERS: dict[str, tuple[str, str]] = {
    "codeScan": ("services.worker.stages.codescan", "run"),
    "imageBuild": ("services.worker.stages.images", "build"),
    "integrationTest": ("services.worker.stages.images", "integration_test"),
    "imageRelease": ("services.worker.stages.images", "release"),
}


def _engine_error(exc: BaseException) -> bool:
    """Whether an exception is the engine's (the docker SDK is loaded only when used)."""
    if isinstance(exc, EngineError):
        return True
    errors = sys.modules.get("docker.errors")
    return errors is not None and isinstance(exc, errors.DockerException)


class MaskingSink:
    """The sink in front of the real one: lines go through the run's SecretMasker first.

    The masker holds back a line while it may end with the start of a secret that goes on in
    the next line. Held lines are released by the next line, by `flush()` and `end()` (so they
    are in the log before STAGE_FINISHED and RUN_FINISHED), and by a timer once no line came
    for `hold` seconds, so a held line of a command that went quiet is not kept back longer.
    """

    def __init__(self, sink: Sink, masker: domain.SecretMasker, hold: float = HOLD) -> None:
        self._sink = sink
        self._masker = masker
        self._hold = hold
        self._stages: deque[str] = deque()  # the stage of each line the masker holds
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._timer: threading.Thread | None = None

    def line(self, stage: str, text: str) -> None:
        with self._cond:
            self._raise_error()
            if self._stages and self._stages[-1] != stage:
                self._release()  # a held line stays in its own stage
            self._stages.append(stage)
            self._send(self._masker.push(text))
            if not self._stages:
                self._deadline = None
                return
            waiting = self._deadline is not None
            self._deadline = time.monotonic() + self._hold  # from the end of this line's send
            if self._timer is None:
                self._timer = threading.Thread(target=self._release_when_quiet, daemon=True)
                self._timer.name = "mask-release"
                self._timer.start()
            elif not waiting:
                self._cond.notify()

    def flush(self) -> None:
        with self._cond:
            self._raise_error()
            self._release()
            self._sink.flush()

    def end(self, stage: str) -> int:
        with self._cond:
            self._closed = True
            self._cond.notify()
            self._raise_error()
            self._release()
            return self._sink.end(stage)

    def event(self, event: tuple[str, str], payload: Mapping[str, object]) -> None:
        self._sink.event(event, payload)

    def _release(self) -> None:
        self._deadline = None
        self._send(self._masker.flush())

    def _send(self, lines: list[str]) -> None:
        stages = [self._stages.popleft() for _ in lines]  # one for one, in order
        for stage, text in zip(stages, lines, strict=True):
            self._sink.line(stage, text)

    def _release_when_quiet(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                delay = self._deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                try:
                    self._release()
                except Exception as exc:  # noqa: BLE001 - raised to the writer on its next call
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
