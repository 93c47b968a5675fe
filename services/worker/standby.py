"""A warm worker: `python -m services.worker --standby` imports what a run needs, then waits
for the one record it will run, so a record does not pay for an interpreter's start.

The cloud service keeps a few of these (services/cloud/backends/standby.py). Each is started
like a cold worker (its own session and process group, the service's environment without the
stack's keys) with one end of a Unix socket pair as its stdin. It receives exactly one
message there: the record's argv, workspace and whole environment (the launch included), with
the record's log file as an attached descriptor. It then becomes that record's worker, as if
it had been started with them: stdout and stderr go to the log, stdin is /dev/null, the
working directory is the workspace, `os.environ` is the record's, and `main.main` runs. A
standby never runs a second record: it exits with the record's exit code.

End of file on the socket (the cloud service stopped or dropped it) ends a standby with 0.
"""

from __future__ import annotations

import os
import socket
import sys

# What a run imports, loaded now rather than after the record arrives (measured: the
# worker's start is mostly these imports; bench/README.md "Warm workers").
from services.worker import main as worker_main
from services.worker import runtime  # noqa: F401 - preloaded: stages, executors, publisher
from services.worker.executors import local  # noqa: F401 - preloaded: the Local executor
from shared.contracts.launch import HANDOFF_MAX, Handoff


def wait_for_record(channel: socket.socket) -> tuple[Handoff, int] | None:
    """The hand-off and its log's descriptor; None when the cloud service closed the
    channel without one."""
    data, fds, _flags, _addr = socket.recv_fds(channel, HANDOFF_MAX, 1)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    if len(fds) != 1:
        raise ValueError(f"expected the log's descriptor with the hand-off, got {len(fds)}")
    return Handoff.decode(data), fds[0]


def become(handoff: Handoff, log_fd: int) -> None:
    """Take on the record's process state: output to its log, no stdin, its workspace, its
    environment (what a cold worker is given by its Popen)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # also closes the channel, which was stdin
    os.close(null)
    os.chdir(handoff.cwd)
    os.environ.clear()
    os.environ.update(handoff.env)


def main() -> int:
    channel = socket.socket(fileno=os.dup(0))  # stdin is the channel (a Unix socket)
    # The cloud service made it under eventlet, which leaves sockets non-blocking: here a
    # recv before the hand-off must wait, not fail.
    channel.setblocking(True)
    try:
        got = wait_for_record(channel)
    except (OSError, ValueError) as exc:
        print(f"standby: no usable hand-off: {exc}", file=sys.stderr)
        return 2
    finally:
        channel.close()
    if got is None:
        return 0
    handoff, log_fd = got
    become(handoff, log_fd)
    return worker_main.main(handoff.argv)
