"""The worker's entry: `--record-id <id>` runs that record in the current directory, then exits.

The current directory is the workspace the cloud service made for this record (the checkout
goes to ./code). Exit codes: 0 Success, 1 Failed, 2 bad usage, 3 Aborted, 4 no job.
`--check` only verifies that the broker is reachable (a smoke test for images and pods).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path

from kombu import Connection

from services.worker import bus, domain
from services.worker.artifacts import ArtifactClient
from services.worker.publisher import BusSink, EventPublisher, Heartbeat
from services.worker.runtime import Runner, Sink
from shared import config, logsetup, timefmt, tracing
from shared.contracts import events, launch, rpc, services
from shared.contracts.boundary import MalformedPayload, check
from shared.contracts.records import RecordStatus

log = logging.getLogger("cyclone.worker")

JOB_TIMEOUT = 60.0  # the scheduler may be restarting: keep asking this long
RPC_TIMEOUT = 10.0
RETRY_PAUSE = 1.0
RECORD_ID = re.compile(r"[0-9a-f]{24}")


class JobUnavailable(Exception):
    """The scheduler refused the job or did not answer in time."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.worker")
    parser.add_argument("--check", action="store_true", help="check the broker and exit")
    parser.add_argument("--record-id", help="the record to run (24 hex digits)")
    parser.add_argument(
        launch.JOB_FD_FLAG,
        type=int,
        dest="job_fd",
        help="a descriptor to read the record's job from (the fork server's hand-off)",
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=JOB_TIMEOUT,
        help="seconds to keep asking the scheduler for the job (default %(default)s)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own exit: --help (0) or a usage error (2)
        return 0 if not exc.code else domain.EXIT_USAGE
    logsetup.configure("worker")
    # Read and closed before anything is started: nothing the worker starts may inherit it.
    handed = None if args.job_fd is None else read_handed(args.job_fd)
    try:
        settings = config.load()
    except SystemExit as exc:  # a setting of the wrong kind, named (shared/envvars.py)
        say(str(exc))
        return domain.EXIT_USAGE
    if runs_builds_itself(os.environ):
        lower_priority(settings.worker_nice)
    tracing.setup("worker")
    uri = settings.amqp_uri
    if args.check:
        return check_broker(uri)
    if not args.record_id:
        parser.print_usage(sys.stderr)
        return domain.EXIT_USAGE
    if not RECORD_ID.fullmatch(args.record_id):
        say(f"--record-id must be 24 lowercase hex digits, got {args.record_id!r}")
        return domain.EXIT_USAGE
    token = os.environ.get(launch.TOKEN, "")  # from its launch (shared/contracts/launch.py)
    logsetup.PROCESS_IDS["record_id"] = args.record_id
    # One span for the worker's life, a child of the cloud service's start_worker.
    root = tracing.start(f"worker {args.record_id}", tracing.INTERNAL, tracing.from_env())
    token_ = tracing.attach(root)
    try:
        return run_record(args.record_id, uri, Path.cwd(), args.job_timeout, token, handed)
    finally:
        root.end()
        tracing.detach(token_)
        tracing.flush()


def runs_builds_itself(env: Mapping[str, str]) -> bool:
    """Whether the build's commands will be this worker's children (a Local cloud). On a
    Docker or Kubernetes cloud they run in containers the engine starts: a niceness of the
    worker's would slow only the worker, which waits on the engine, and spare no one."""
    try:
        return launch.cloud_type_of(env.get(launch.EXECUTOR, "")) == "Local"
    except launch.LaunchError:
        return False  # the executor's set-up fails the record, saying why


def lower_priority(niceness: int) -> None:
    """Give way to the control plane on a shared host: the worker and its build's commands
    (which inherit it) take the CPU the API, the scheduler, the logs service and the database
    leave, so a POST or a stage report does not queue behind a build that uses every core
    (docs/architecture.md, "Builds give way"). Raising one's own niceness needs no privilege;
    0 changes nothing.

    Where the kernel schedules sessions as groups (autogroup), a niceness counts only within
    the group: the worker's session (its own, for stopping it whole) is given the niceness as
    a group too, so a record weighs less than the services' session, not the same."""
    current = os.nice(0)  # `niceness` is 0-19: shared/config.py checked it
    if niceness > current:
        os.nice(niceness - current)
    if niceness and os.getsid(0) == os.getpid():  # the group is the session's: its leader's
        with contextlib.suppress(OSError):  # no autogroup in this kernel, or not allowed
            Path("/proc/self/autogroup").write_text(str(niceness))


def check_broker(uri: str) -> int:
    try:
        with Connection(uri, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - reported as the check's result
        print(f"broker unreachable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("broker ok")
    return 0


def read_handed(fd: int) -> object:
    """The job handed on descriptor `fd`, as JSON (run_record checks it), which is closed;
    None when it cannot be read (the worker then asks for its job)."""
    try:
        # (open fails only for a descriptor that is not open: nothing to close then)
        with open(fd, "rb") as handed:
            return json.loads(handed.read())
    except (OSError, ValueError) as exc:
        say(f"the job handed on descriptor {fd} is unreadable ({exc}): asking for it")
        return None


def run_record(
    record_id: str,
    uri: str,
    workspace: Path,
    job_timeout: float = JOB_TIMEOUT,
    token: str = "",
    handed: object = None,
) -> int:
    """Run one record; `token` is the worker token the cloud service gave (every report and
    the job request carry it). `handed` is the job that came with the launch, if any: when it
    is the record's, no get_job is asked."""
    abort = threading.Event()
    install_stop_handlers(abort)
    job_came = threading.Event()  # its first stage's start, at once, is the first beat
    heartbeat = Heartbeat(uri, record_id, token=token, quiet_until=job_came).start()
    try:
        try:
            job = None if handed is None else handed_job(handed, record_id)
            came = "handed with its launch" if job is not None else "from the scheduler"
            if job is None:
                job = fetch_job(uri, record_id, abort, job_timeout, token)
            if job is not None:
                job_came.set()
        except JobUnavailable as exc:
            say(f"could not get the job of {record_id}: {exc}")
            failed = f"could not get the job: {exc}"
            report_without_job(uri, record_id, RecordStatus.FAILED, failed, token)
            return domain.EXIT_NO_JOB
        if job is None:
            report_without_job(uri, record_id, RecordStatus.ABORTED, "aborted", token)
            return domain.exit_code(RecordStatus.ABORTED)
        say(f"running {record_id} (job {came}): stages {job['stages']} in {workspace}")
        artifacts = ArtifactClient(uri, record_id, token, abort)
        try:
            return execute(job, BusSink(uri, record_id, token), workspace, abort, artifacts)
        finally:
            artifacts.close()
    finally:
        heartbeat.stop()


def execute(
    job: rpc.Job,
    sink: Sink,
    workspace: Path,
    abort: threading.Event,
    artifacts: ArtifactClient | None = None,
) -> int:
    """Run the job to its end; the exit code of its final status."""
    try:
        status = Runner(job, sink, workspace, abort, artifacts=artifacts).run()
    except Exception:  # noqa: BLE001 - e.g. the broker went away for good: nothing to report to
        say(f"the run of {job['record_id']} broke:\n{traceback.format_exc()}")
        return domain.exit_code(RecordStatus.FAILED)
    say(f"{job['record_id']} finished: {status}")
    return domain.exit_code(status)


def install_stop_handlers(abort: threading.Event) -> None:
    """SIGTERM (the cloud service stopping the worker) and SIGINT set `abort`; the runtime
    stops the running command and reports the stage Aborted."""

    def stop(_signum: int, _frame: object) -> None:
        abort.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def fetch_job(
    uri: str,
    record_id: str,
    abort: threading.Event,
    timeout: float = JOB_TIMEOUT,
    token: str = "",
) -> rpc.Job | None:
    """scheduler.get_job, retried while the scheduler does not answer; None when aborted.

    The calls run in a thread so that an abort is seen at once, not after an RPC timeout.
    The answer is checked against the contract (rpc.Job) before anything reads it.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def ask() -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            wait = min(RPC_TIMEOUT, max(deadline - time.monotonic(), 1.0))
            try:
                box["job"] = get_job(uri, record_id, wait, token)
                break
            except bus.BROKER_ERRORS as exc:
                last = exc
            except Exception as exc:  # noqa: BLE001 - the scheduler's answer: no retry
                box["error"] = f"{type(exc).__name__}: {exc}"
                break
            if time.monotonic() + RETRY_PAUSE >= deadline or abort.is_set():
                box["error"] = f"the scheduler did not answer within {timeout:g}s ({last!r})"
                break
            time.sleep(RETRY_PAUSE)
        done.set()

    threading.Thread(target=ask, daemon=True, name="get-job").start()
    while not done.wait(0.1):
        if abort.is_set():
            return None
    if "error" in box and abort.is_set():
        return None  # the asker stopped because of the abort
    if "error" in box:
        raise JobUnavailable(str(box["error"]))
    return as_job(box["job"], record_id, "the scheduler's answer")


def as_job(value: object, record_id: str, what: str) -> rpc.Job:
    """`value` checked against the contract (rpc.Job) before anything reads it, and found to
    be the record's; JobUnavailable otherwise."""
    try:
        job = check(rpc.Job, value, "job")
    except MalformedPayload as exc:
        raise JobUnavailable(f"{what} is not job {record_id}: {exc}") from exc
    if job["record_id"] != record_id:
        raise JobUnavailable(f"{what} is another record's job, not {record_id}'s")
    return job


def handed_job(handed: object, record_id: str) -> rpc.Job | None:
    """The job handed with the launch; None (the worker asks instead) when it is not the
    record's job."""
    try:
        return as_job(handed, record_id, "the job handed with the launch")
    except JobUnavailable as exc:
        say(f"{exc}: asking for it")
        return None


def get_job(uri: str, record_id: str, timeout: float, token: str = "") -> object:
    """The scheduler's answer as it came (fetch_job checks it)."""
    return bus.call(uri, services.SCHEDULER, rpc.GET_JOB, [record_id, token], timeout)


def report_without_job(uri: str, record_id: str, status: str, error: str, token: str = "") -> None:
    """RUN_FINISHED for a run that never started (no end-of-log marker: a worker without the
    job cannot know whether another one already logged this record)."""
    payload = events.RunFinished(
        record_id=record_id,
        status=status,
        time=timefmt.rfc3339(timefmt.now()) or "",
        error=error,
        log_lines=0,
    )
    try:
        EventPublisher(uri, token).event(events.RUN_FINISHED, payload)
    except Exception as exc:  # noqa: BLE001 - the scheduler's reaper covers a lost report
        say(f"could not report the run's end: {exc}")


def say(text: str) -> None:
    log.info(text)
