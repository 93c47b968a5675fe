"""The fork server: `python -m services.worker --fork-server` imports what a run needs once,
then forks one worker per record the cloud service hands it, so a record pays neither an
interpreter's start nor its imports (about 250 ms of CPU each on this machine).

The cloud service starts it (services/cloud/backends/forkserver.py) with the service's
environment minus the stack's keys and one end of a Unix socket pair as its stdin. On that
channel it receives hand-offs (shared/contracts/launch.Handoff: the record's argv, workspace
and whole environment, the record's log file attached as a descriptor, and usually its job on
a second one, which the server passes on unread) and answers each with
the pid of the worker it forked; when a worker ends it sends its exit status. A forked worker
is the same process a cold start makes: its own session and process group, output to the
record's log, stdin /dev/null, the workspace as working directory, the record's environment,
then `main.main`. It holds nothing of the server's but the imported modules (the server never
opens a connection or starts a thread), and it runs one record and exits.

End of file on the channel (the cloud service stopped or restarted) stops the server from
taking records; it stays to reap the workers it forked, which keep running (the restarted
service adopts them), and exits when the last has ended.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys

from kombu import Connection

# What a run imports, loaded once here rather than in every worker.
from services.worker import (
    executors,
    runtime,  # noqa: F401 - preloaded: stages, executors, publisher
)
from services.worker import main as worker_main
from services.worker.executors import local  # noqa: F401 - preloaded: the Local executor
from shared.contracts import boundary, rpc
from shared.contracts.launch import HANDOFF_MAX, JOB_FD_FLAG, Handoff, LaunchError, WorkerLaunch

REAP_EVERY = 0.2  # seconds between checks for ended workers when no hand-off comes


def exit_status(status: int) -> int:
    """A wait status as Popen reports it: the exit code, or -N for signal N."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def send(channel: socket.socket, message: dict[str, object]) -> None:
    # the cloud service may be gone: its successor adopts the workers from /proc
    with contextlib.suppress(OSError):
        channel.send(json.dumps(message).encode())


def reap(channel: socket.socket, children: set[int]) -> None:
    """Report every ended worker: {"exited": pid, "code": exit status}."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)
        send(channel, {"exited": pid, "code": exit_status(status)})


def become(handoff: Handoff, log_fd: int) -> None:
    """In the forked child, once its session is its own: the record's process state, as a
    cold start's Popen makes it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(handoff.cwd)
    os.environ.clear()
    os.environ.update(handoff.env)


def fork_worker(
    channel: socket.socket, handoff: Handoff, log_fd: int, job_fd: int | None = None
) -> int:
    """Fork the worker of `handoff`; its pid (in the server). With `job_fd` (the record's job,
    which the server never reads), the worker reads its job there instead of asking for it."""
    sys.stdout.flush()
    sys.stderr.flush()
    ready, done = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the server's loop
        code = 70  # EX_SOFTWARE: the worker could not take on its record
        try:
            # Its own session and process group and its workspace before the server names its
            # pid: the cloud service may stop the group at once, and another replica starting
            # the same record must find it by its working directory (hostworkers.py).
            os.setsid()
            os.close(ready)
            channel.close()
            become(handoff, log_fd)
            os.close(done)
            argv = handoff.argv if job_fd is None else [*handoff.argv, JOB_FD_FLAG, str(job_fd)]
            code = worker_main.main(argv)
        except SystemExit as exc:  # as the interpreter would exit with it
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - reported in the record's log, then exit
            print(f"worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            # os._exit, as a forked child must (the server's buffers and handlers are not its
            # own); the worker starts only daemon threads and registers no atexit handler.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(log_fd)
    if job_fd is not None:
        os.close(job_fd)
    os.close(done)
    os.read(ready, 1)  # end of file once the child has its session and workspace (or died)
    os.close(ready)
    return pid


def serve(channel: socket.socket) -> int:
    children: set[int] = set()
    open_ = True
    while open_ or children:
        ready, _, _ = select.select([channel] if open_ else [], [], [], REAP_EVERY)
        if ready:
            data, fds, _flags, _addr = socket.recv_fds(channel, HANDOFF_MAX, 2)
            if not data:
                open_ = False
                for fd in fds:
                    os.close(fd)
            else:
                try:
                    if len(fds) not in (1, 2):
                        raise ValueError(f"a hand-off has 1 or 2 descriptors, not {len(fds)}")
                    handoff = Handoff.decode(data)
                except ValueError as exc:
                    for fd in fds:
                        os.close(fd)
                    send(channel, {"refused": str(exc)})
                else:
                    prepare_for(handoff)
                    # What the server holds moves out of the collector's sight: a worker's
                    # collections then never walk (and so never copy) the server's objects.
                    gc.freeze()
                    pid = fork_worker(channel, handoff, *fds)
                    children.add(pid)
                    send(channel, {"started": pid})
        reap(channel, children)
    return 0


def prepare_for(handoff: Handoff) -> None:
    """Import, in the server, what the hand-off's cloud type needs beyond what every worker
    does (a Docker cloud's executor and the docker SDK: about 150 ms): the first record of
    that kind pays for it once, the next ones fork with it loaded. A Local-only install never
    loads them."""
    try:
        launched = WorkerLaunch.from_env(handoff.env)
    except LaunchError:
        return  # the worker reports its broken launch itself
    importlib.import_module(executors.EXECUTORS[launched.cloud_type])
    if launched.docker is not None:
        importlib.import_module("services.worker.engine")


def prepare() -> None:
    """What every worker would otherwise do on first use, after its fork: build the Job's
    checker (about 70 ms), load kombu's AMQP transport and the IDNA codec a connection's
    host name goes through (a few ms). No connection is opened."""
    boundary.prepare(rpc.Job)
    _ = Connection("amqp://127.0.0.1//").transport
    "localhost".encode("idna")


def main() -> int:
    prepare()
    channel = socket.socket(fileno=os.dup(0))  # stdin is the channel (a Unix socket)
    # The cloud service made it under eventlet, which leaves sockets non-blocking.
    channel.setblocking(True)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        return serve(channel)
    finally:
        channel.close()
