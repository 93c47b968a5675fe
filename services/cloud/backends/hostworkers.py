"""Workers as processes on this host, the part the Local and Docker backends share (their
drivers hold a `HostWorkers` each; neither borrows the other's behaviour).

A worker runs as `python -m services.worker --record-id <id>` in a fresh workspace
(`$CYCLONE_DATA_DIR/workspaces/<id>`), in its own session and process group, so that
stopping it can kill everything it started, and so that it survives a restart of the cloud
service (no PDEATHSIG: the new service adopts it from the saved pid). Its environment is the
service's, without the stack's keys and without any launch variable the service itself has,
plus its launch (shared/contracts/launch.py). Its stdout and stderr go to
`workspaces/<id>.worker.log` (the worker's own diagnostics; build logs go over the bus),
which is kept after the run; the workspace is removed when the worker has ended: renamed
away at once, its files deleted on an OS thread of their own (remove_workspace).

Liveness comes from `waitid` for our own children, and from /proc for adopted ones (no
longer our children after a restart; a zombie counts as ended, since pid 1 in a container may
never reap it). A pid is only trusted while /proc shows it is still the worker of that record
(its command line, environment or working directory names the record), because pids are
reused. With a fork server (forkserver.py), a worker is forked from it rather than started:
the same process state, but the server's child, whose exit status the server reports.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import eventlet
from eventlet import patcher

from services.cloud import domain
from services.cloud.backends.base import DriverContext, ExitReport, Handle, SavedWorker
from shared import brokers, logsetup, tracing
from shared.contracts import launch
from shared.contracts.catalog import DockerSection
from shared.contracts.launch import CloudType, Handoff, WorkerLaunch
from shared.contracts.rpc import Job, WorkerInfo
from shared.timefmt import now

log = logging.getLogger(__name__)
# A real thread, also where eventlet patched `threading` into green threads.
OsThread = patcher.original("threading").Thread

ROOT = Path(__file__).resolve().parents[3]
TERM_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a worker's process group
KILL_WAIT = 2.0  # seconds to wait for the group to vanish after SIGKILL
CHECK_EVERY = 0.05
EXIT_REPORT_GRACE = 2.0  # seconds a forked worker's exit status may take to be reported
# Workers run build commands and need only the broker and their record id (architecture.md):
# the keys of the stack stay with the services.
WITHHELD_ENV = ("CYCLONE_SECRET_KEY", "CYCLONE_API_TOKEN", "CYCLONE_MONGO_URL")


def launch_on_host(
    context: DriverContext,
    record_id: str,
    cloud_type: CloudType,
    cloud: str,
    *,
    build_user: str | None = None,
    engine: DockerSection | None = None,
) -> WorkerLaunch:
    """The launch of a worker process on this host: its record, broker, token and the log
    queue's type, its cloud, this replica, its build user and Docker engine, if any."""
    return WorkerLaunch(
        cloud_type=cloud_type,
        record_id=record_id,
        amqp_uri=context.amqp_uri,
        token=context.tokens.issue(record_id) if context.tokens is not None else "",
        # the log ingest queue's type as the logs service declares it (shared/brokers.py)
        quorum_queues=brokers.quorum_wanted(context.environ, context.amqp_uri),
        cloud=cloud,
        host=context.host,
        build_user=build_user or "",
        docker=engine,
        traceparent=tracing.launch_env().get(launch.TRACEPARENT, ""),
    )


def host_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What every worker on this host inherits: the service's environment without the
    stack's keys and the launch variables it may have itself, the code on PYTHONPATH."""
    env = {k: v for k, v in environ.items() if k not in WITHHELD_ENV and k not in launch.NAMES}
    paths = [str(ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


@dataclass
class _Worker:
    record_id: str
    project: str
    pipeline: str
    pid: int
    pgid: int
    workspace: Path
    started_at: datetime
    seen_at: datetime
    popen: subprocess.Popen[bytes] | None = None  # None when forked, or adopted after a restart
    forked: bool = False  # by our fork server, which reports its exit status
    gone_at: float | None = None  # when a forked worker was first seen gone (monotonic)
    stop_requested: bool = False
    discarded: bool = False  # its record was deleted: keep no log either


class HostWorkers:
    """The worker processes of one cloud on this host; see the module docstring.

    `context.command` is the worker's argv without the record id (`--record-id <id>` is
    appended), so tests can run a stand-in. Starts on this host go one at a time, across the
    service's replicas too (one_start_at_a_time); `stop` and `discard` may run concurrently
    with anything.
    """

    def __init__(
        self,
        cloud: str,
        context: DriverContext,
        *,
        build_user: str | None = None,
        sleep: Callable[[float], object] = eventlet.sleep,
    ) -> None:
        self.cloud = cloud
        self.build_user = build_user
        self.data_dir = Path(context.data_dir).resolve()
        self.workspaces = Path(context.workspaces or self.data_dir / "workspaces").resolve()
        self.command = list(context.command)
        self._env = dict(context.environ)
        self._forks = context.fork_server
        self._sleep = sleep
        self._workers: dict[str, _Worker] = {}
        sweep_removals(self.workspaces)  # what a restart cut short of deleting

    # --- what a driver of workers on this host delegates ------------------------------------

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        launched: Callable[[], WorkerLaunch],
        *,
        job: Job | None = None,
    ) -> WorkerInfo:
        """Spawn the worker of a record with the launch `launched` makes (only when one is
        spawned); a record already tracked, or left running by a start cut short, is that
        worker. A forked worker is handed `job` (Driver.start); a cold one asks for it."""
        domain.check_record_id(record_id)
        if (known := self._workers.get(record_id)) is not None:
            return self._info(known)
        self._ensure_workspaces()
        with one_start_at_a_time(self.workspaces / START_LOCK, self._sleep):
            return self._start(record_id, project, pipeline, launched, job)

    def _start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        launched: Callable[[], WorkerLaunch],
        job: Job | None,
    ) -> WorkerInfo:
        workspace = self.workspaces / record_id
        if workspace.exists() and (orphan := self._orphan(record_id, project, pipeline)):
            return orphan
        shutil.rmtree(workspace, ignore_errors=True)  # rare, and made again at once: here
        workspace.mkdir()
        if self.build_user:
            workspace.chmod(0o711)  # the build user may pass, not list (it owns ./code)
        argv = [*self.command, "--record-id", record_id]
        started = now()
        try:
            with open(self.log_path(record_id), "ab") as out:
                note = logsetup.line("cloud", f"starting {argv}", record_id=record_id)
                out.write(note.encode())
                out.flush()
                env = self.worker_env(launched())
                forked = self._forked(record_id, workspace, env, out, job)
                popen = None
                if forked is None:
                    popen = subprocess.Popen(
                        argv,
                        cwd=workspace,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group; outlives our restarts
                    )
        except BaseException:
            shutil.rmtree(workspace, ignore_errors=True)  # empty: nothing ran in it
            raise
        pid = forked if popen is None else popen.pid
        assert pid is not None
        worker = _Worker(record_id, project, pipeline, pid, pid, workspace, started, started, popen)
        worker.forked = popen is None
        self._workers[record_id] = worker
        log.info("started worker of %s: pid %s", record_id, pid)
        return self._info(worker)

    def _forked(
        self,
        record_id: str,
        workspace: Path,
        env: dict[str, str],
        out: BinaryIO,
        job: Job | None,
    ) -> int | None:
        """The pid of the record's worker forked by the fork server, None without one."""
        if self._forks is None:
            return None
        handoff = Handoff(["--record-id", record_id], str(workspace), env)
        pid = self._forks.hand(handoff, out, job)
        if pid is not None:
            how = "its job handed" if job is not None else "it asks for its job"
            note = logsetup.line(
                "cloud", f"forked by the fork server: pid {pid}, {how}", record_id=record_id
            )
            out.write(note.encode())
            out.flush()
        return pid

    def _orphan(self, record_id: str, project: str, pipeline: str) -> WorkerInfo | None:
        """A live worker of the record that a start killed before saving it left behind
        (its workspace is there): taken over, so the record never gets a second worker."""
        leader = find_worker_leader(record_id)
        if leader is None:
            return None
        self.adopt(
            [
                SavedWorker(
                    record_id,
                    project,
                    pipeline,
                    now(),
                    {"pid": leader, "pgid": leader, "workspace": str(self.workspaces / record_id)},
                    self.cloud,
                )
            ]
        )
        log.warning("took over the running worker of %s (pid %s)", record_id, leader)
        return self._info(self._workers[record_id])

    def stop(self, record_id: str) -> bool:
        worker = self._workers.get(record_id)
        if worker is None or not self._alive(worker):
            return False
        worker.stop_requested = True
        _signal_group(worker.pgid, signal.SIGTERM)
        if self._wait_gone(worker.pgid, TERM_GRACE):
            return True
        log.warning("worker of %s ignored SIGTERM for %ss: killing it", record_id, TERM_GRACE)
        _signal_group(worker.pgid, signal.SIGKILL)
        if not self._wait_gone(worker.pgid, KILL_WAIT):
            log.error("process group %s of %s survived SIGKILL", worker.pgid, record_id)
        return True

    def poll(self) -> builtins.list[ExitReport]:
        reports = []
        seen = now()
        for worker in list(self._workers.values()):
            try:
                ended, code = self._ended(worker)
            except Exception:  # one odd worker must not hide the others
                log.exception("could not check the worker of %s", worker.record_id)
                continue
            if not ended:
                worker.seen_at = seen
                continue
            self._workers.pop(worker.record_id, None)
            reason = domain.exit_reason(code, worker.stop_requested)
            reports.append(ExitReport(worker.record_id, code, reason))
            try:
                self._clean_up(worker, reason)
            except OSError:
                log.exception("could not clean up after the worker of %s", worker.record_id)
        return reports

    def list(self) -> builtins.list[WorkerInfo]:
        return [self._info(worker) for worker in self._workers.values()]

    def handle(self, record_id: str) -> Handle:
        worker = self._workers[record_id]
        return {"pid": worker.pid, "pgid": worker.pgid, "workspace": str(worker.workspace)}

    def adopt(self, saved: builtins.list[SavedWorker]) -> None:
        for item in saved:
            if item.record_id in self._workers:
                continue
            try:
                domain.check_record_id(item.record_id)
                pid = int(item.handle["pid"])
                pgid = int(item.handle.get("pgid") or pid)
            except (KeyError, TypeError, ValueError):
                log.warning("cannot adopt the worker of %r: %r", item.record_id, item.handle)
                continue
            workspace = Path(str(item.handle.get("workspace") or self.workspaces / item.record_id))
            self._workers[item.record_id] = _Worker(
                item.record_id,
                item.project,
                item.pipeline,
                pid,
                pgid,
                workspace,
                item.started_at,
                item.started_at,
            )
            log.info("adopted worker of %s: pid %s", item.record_id, pid)

    def discard(self, record_id: str) -> None:
        domain.check_record_id(record_id)
        worker = self._workers.get(record_id)
        if worker is not None:
            worker.discarded = True  # poll removes what is left once it has ended
            self.stop(record_id)
        else:
            remove_workspace(self.workspaces / record_id)
        self.log_path(record_id).unlink(missing_ok=True)

    # --- helpers -------------------------------------------------------------------------------

    def _ensure_workspaces(self) -> None:
        """The workspaces folder; with a build user, it and the data dir above it are
        traversable (0711: nothing can be listed, and every file in them is 0600)."""
        self.workspaces.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.build_user:
            self.workspaces.chmod(0o711)
            if self.workspaces.parent == self.data_dir:
                self.data_dir.chmod(0o711)

    def log_path(self, record_id: str) -> Path:
        return self.workspaces / f"{record_id}.worker.log"

    def worker_env(self, launched: WorkerLaunch) -> dict[str, str]:
        """`host_env`, then the worker's launch."""
        env = host_env(self._env)
        env.update(launched.to_env())
        return env

    def _info(self, worker: _Worker) -> WorkerInfo:
        return domain.worker_info(
            worker.record_id,
            worker.project,
            worker.pipeline,
            self.cloud,
            worker.started_at,
            worker.seen_at,
        )

    def _alive(self, worker: _Worker) -> bool:
        if worker.popen is None:
            return is_worker_process(worker.pid, worker.record_id)
        return worker.popen.returncode is None and _child_exited(worker.pid) is False

    def _ended(self, worker: _Worker) -> tuple[bool, int | None]:
        """Whether the worker ended, and its Popen-style return code when we can know it."""
        if worker.popen is None:
            code = self._forks.exit_of(worker.pid) if worker.forked and self._forks else None
            if code is None and is_worker_process(worker.pid, worker.record_id):
                return False, None
            if code is None and worker.forked and self._forks and self._forks.running():
                # Gone, and its server reaps it and reports within a moment: wait for that.
                worker.gone_at = worker.gone_at or time.monotonic()
                if time.monotonic() - worker.gone_at < EXIT_REPORT_GRACE:
                    return False, None
            _kill_leftovers(worker.pgid, worker.record_id)
            if self._forks is not None:
                self._forks.forget(worker.pid)
            return True, code
        if worker.popen.returncode is not None:
            return True, worker.popen.returncode
        exited = _child_exited(worker.pid)
        if exited is False:
            return False, None
        # The leader is a zombie until reaped, so its pgid cannot name another group yet.
        _kill_leftovers(worker.pgid)
        return True, worker.popen.poll() if exited else None

    def _clean_up(self, worker: _Worker, reason: str) -> None:
        remove_workspace(worker.workspace)
        path = self.log_path(worker.record_id)
        if worker.discarded:
            path.unlink(missing_ok=True)
            return
        with open(path, "ab") as out:
            note = logsetup.line("cloud", f"worker {reason}", record_id=worker.record_id)
            out.write(note.encode())

    def _wait_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while group_members(pgid):
            if time.monotonic() >= deadline:
                return False
            self._sleep(CHECK_EVERY)
        return True


# --- /proc -------------------------------------------------------------------------------------


def parse_stat(data: bytes) -> tuple[str, int]:
    """State letter and process group from /proc/<pid>/stat (the name may contain `)`)."""
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[2])


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return parse_stat(f.read())
    except (OSError, ValueError, IndexError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group.

    An empty group, the usual case once a worker has ended, is told by the kernel at once
    (signal 0 is sent to nobody): the scan of every process of the host, which this answer
    used to cost each ended record on the cloud service's only thread, is left for a group
    with someone in it (a zombie included)."""
    if pgid > 1:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass  # someone is there, another user's: the scan tells who
    return scan_group(pgid)


def scan_group(pgid: int) -> list[int]:
    """Live members of a process group, read from every process of the host."""
    members = []
    for entry in os.listdir("/proc"):
        found = _stat(int(entry)) if entry.isdigit() else None
        if found and found[1] == pgid and found[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


START_LOCK = ".start.lock"  # in the workspaces folder (0600: a build cannot take it)
REMOVING = ".removing-"  # a workspace whose files are being deleted (the name's prefix)


def remove_workspace(path: Path) -> None:
    """Take a workspace away at once and delete its files on an OS thread of their own.

    Deleting 20,000 files takes 200 ms here (a big `node_modules`, seconds), and on the cloud
    service's hub, which the single-process default shares with the scheduler, the logs and
    the scm services, all of them stood still meanwhile (now 2-3 ms: bench/cleanup.py). A
    deletion cut short by a restart leaves the renamed folder, which sweep_removals deletes."""
    trash = path.with_name(f"{REMOVING}{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        path.rename(trash)
    except FileNotFoundError:
        return
    except OSError:  # cannot be renamed (e.g. a mount point): deleted where it is
        trash = path
    _delete_in_background(trash)


def sweep_removals(workspaces: Path) -> None:
    """Delete what deletions cut short left (see remove_workspace)."""
    with contextlib.suppress(OSError):
        for left in workspaces.glob(f"{REMOVING}*"):
            _delete_in_background(left)


def _delete_in_background(path: Path) -> None:
    OsThread(
        target=shutil.rmtree,
        args=(path,),
        kwargs={"ignore_errors": True},
        daemon=True,
        name="remove-workspace",
    ).start()


@contextlib.contextmanager
def one_start_at_a_time(lock_path: Path, sleep: Callable[[float], object]) -> Iterator[None]:
    """Starts on this host one at a time across the service's replicas (an flock, let go if
    its holder dies). A start another replica took first and had not acked when its broker
    connection was cut is delivered again: without this, both replicas found no workspace,
    or the second one the first's before its worker was in it, and each started a worker for
    the record (bench.chaos: the second's clone found the first's code and failed the run).
    Now the second waits, then finds the first's worker by its workspace and takes it over.
    A replica serialises its own starts already; a start takes tens of milliseconds."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                sleep(0.005)  # green: a blocking flock would stop the whole service
        yield
    finally:
        os.close(fd)  # lets the lock go


def find_worker_leader(record_id: str) -> int | None:
    """The live process leading its own group (as every worker started here does) that is
    the worker of that record, if there is one."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        found = _stat(int(entry))
        if found and found[1] == int(entry) and is_worker_process(int(entry), record_id):
            return int(entry)
    return None


def is_worker_process(pid: int, record_id: str) -> bool:
    """Whether `pid` is a live process of that record's worker (and not a reused pid)."""
    found = _stat(pid)
    if found is None or found[0] in ("Z", "X"):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if record_id.encode() in f.read().split(b"\0"):
                return True
        # A shell may exec its last command; the environment survives exec.
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"{launch.RECORD_ID}={record_id}".encode() in f.read().split(b"\0"):
                return True
        # A forked worker's command line and initial environment are its fork server's
        # (forkserver.py): it works in the record's workspace, whose name is the record id.
        return record_id in Path(os.readlink(f"/proc/{pid}/cwd")).parts
    except OSError:
        return False


def _child_exited(pid: int) -> bool | None:
    """Whether our child ended, without reaping it (WNOWAIT keeps its pid reserved); None
    when it is no longer ours to wait for (reaped elsewhere: exit status unknown)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_leftovers(pgid: int, record_id: str | None = None) -> None:
    """SIGKILL what an ended worker left running in its process group.

    Without `record_id` (our own child, its zombie still holding the group id) the whole
    group goes. With it (an adopted worker, whose group id may be reused once empty), only
    members that still carry the record's id in their command line, environment or working
    directory.
    """
    members = group_members(pgid)
    if record_id is None:
        if members:
            _signal_group(pgid, signal.SIGKILL)
        return
    for pid in members:
        if is_worker_process(pid, record_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
