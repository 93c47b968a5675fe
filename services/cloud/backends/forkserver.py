"""Warm workers: the fork server, a worker process that has imported everything once and
forks one worker per record (services/worker/forkserver.py).

A cold worker pays for an interpreter's start and its imports (about 250 ms of CPU here)
before it can ask for its job; a forked one pays for a fork. The cloud service starts one fork
server per container, shared by the drivers of workers on this host (the Local cloud's and
every Docker cloud's: a worker learns its cloud from its hand-off), and restarts it when it
dies. Starting a record sends it the record's argv, workspace, environment and log file; it
answers with the forked worker's pid, and later with its exit status.

Isolation is a cold worker's: the server has the service's environment minus the stack's keys,
and each worker gets its own session and process group, the record's environment only, and
runs one record. What differs is parentage: a forked worker is the server's child, not the
cloud service's, so its exit status comes from the server's report, not from `waitid`
(hostworkers.py). After a restart of the cloud service, a worker it forked is adopted like any
other, by its working directory, the record's workspace.

`hand` never blocks for long: with no server (it could not start, or did not answer within
HAND_TIMEOUT), the caller starts a cold worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import eventlet

from shared.contracts.launch import FORK_SERVER_FLAG, Handoff
from shared.contracts.rpc import Job

log = logging.getLogger(__name__)

HAND_TIMEOUT = 5.0  # seconds to wait for the server's pid of a handed record
ANSWER_MAX = 1 << 16


def job_file(job: Job) -> int:
    """A descriptor of an anonymous file in memory holding `job` as JSON, read from its
    start. The job carries decrypted secrets: it never touches a disk or an environment, and
    the fork server only passes the descriptor on to the worker it forks, unread."""
    fd = os.memfd_create("cyclone-job", os.MFD_CLOEXEC)
    try:
        data = memoryview(json.dumps(job).encode())
        while data:
            data = data[os.write(fd, data) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ForkServer:
    """The fork server of one cloud service container; see the module docstring."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        home: Path,
        *,
        spawn: Callable[..., object] = eventlet.spawn_n,
    ) -> None:
        self.command = [*command, FORK_SERVER_FLAG]
        self.env = dict(env)
        self.home = home  # its working directory, where its own log goes
        self._spawn = spawn
        self._popen: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._answers: queue.Queue[dict[str, object] | None] = queue.Queue()
        self._exits: dict[int, int] = {}  # pid -> exit status of workers that ended
        self._closed = False

    def log_path(self) -> Path:
        return self.home / "fork-server.log"

    def start(self) -> bool:
        """Start the server unless it runs; whether one runs now."""
        if self._closed:
            return False
        if self._popen is not None and self._popen.poll() is None:
            return True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.log_path(), "ab") as out:
                self._popen = subprocess.Popen(
                    self.command,
                    cwd=self.home,
                    env=self.env,
                    stdin=theirs.fileno(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # signals to the service's group spare it
                )
        except OSError:
            log.exception("could not start the fork server")
            ours.close()
            return False
        finally:
            theirs.close()
        self._channel = ours
        self._answers = queue.Queue()
        self._spawn(self._listen, ours, self._answers)
        log.info("fork server started: pid %s", self._popen.pid)
        return True

    def hand(self, handoff: Handoff, log_file: BinaryIO, job: Job | None = None) -> int | None:
        """The pid of a worker now running `handoff` with its output to `log_file`, and `job`
        on a descriptor of its own when given; None when the server could not take it (the
        caller starts a cold worker)."""
        if not self.start() or self._channel is None:
            return None
        fds = [log_file.fileno()]
        try:
            if job is not None:
                fds.append(job_file(job))
            socket.send_fds(self._channel, [handoff.encode()], fds)
            answer = self._answers.get(timeout=HAND_TIMEOUT)
        except (OSError, queue.Empty) as exc:
            log.warning("the fork server did not take a record: %r", exc)
            self._restart()
            return None
        finally:
            for fd in fds[1:]:
                os.close(fd)
        if answer is None or "started" not in answer:
            log.warning("the fork server refused a record: %s", answer)
            return None
        pid = answer["started"]
        return pid if isinstance(pid, int) else None

    def exit_of(self, pid: int) -> int | None:
        """The exit status of a worker it forked, once the server has reported it."""
        return self._exits.get(pid)

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def close(self) -> None:
        """Stop taking records: the server reaps what it forked, then exits by itself."""
        self._closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _restart(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(OSError):
                self._popen.kill()

    def _listen(
        self, channel: socket.socket, answers: queue.Queue[dict[str, object] | None]
    ) -> None:
        """Answers to hand-offs go to the waiting `hand`; exit reports are kept by pid."""
        while True:
            try:
                data = channel.recv(ANSWER_MAX)
            except OSError:
                data = b""
            if not data:
                answers.put(None)  # a `hand` waiting now gets no pid
                return
            try:
                message = json.loads(data)
            except ValueError:
                log.warning("the fork server said something unreadable: %r", data[:200])
                continue
            exited = message.get("exited")
            if isinstance(exited, int):
                code = message.get("code")
                self._exits[exited] = code if isinstance(code, int) else -1
            else:
                answers.put(message)
