"""Warm workers: a few worker processes started ahead of need, each waiting for one record.

A cold worker pays for an interpreter's start and its imports (about 230 ms of the 250 ms
between a record's creation and its first stage, bench.runs) before it can ask for its job.
A standby (services/worker/standby.py) has paid that already: the cloud service hands it a
record's argv, workspace, environment and log file over its stdin, a Unix socket, and it
becomes that record's worker.

Isolation is the same as a cold worker's: each standby is our child, started in its own
session and process group with the service's environment minus the stack's keys, and it runs
exactly one record, with that record's environment, then exits. What a standby cannot have is
the record id on its command line, so after a restart of the cloud service a worker that was
a standby is recognised by its working directory, the record's workspace (hostworkers.py).

One pool per cloud service container, shared by the drivers of workers on this host (the
Local cloud's and every Docker cloud's): a standby does not know its cloud until it is handed
a record. `take` never waits: with no live standby, the caller starts a cold worker. Each
handed standby is replaced in the background. Standbys that are never handed a record exit on
their own when the service goes (end of file on their socket).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import eventlet

from shared.contracts.launch import STANDBY_FLAG, Handoff

log = logging.getLogger(__name__)


@dataclass
class _Standby:
    popen: subprocess.Popen[bytes]
    channel: socket.socket

    def close(self) -> None:
        self.channel.close()


class Standbys:
    """Up to `size` started workers waiting for a record; see the module docstring."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        home: Path,
        size: int,
        *,
        spawn: Callable[..., object] = eventlet.spawn_n,
    ) -> None:
        self.command = [*command, STANDBY_FLAG]
        self.env = dict(env)
        self.home = home  # their working directory until they are handed a record
        self.size = size
        self._spawn = spawn
        self._ready: collections.deque[_Standby] = collections.deque()
        self._filling = False
        self._closed = False

    def log_path(self) -> Path:
        """Where a standby writes until it is handed a record (a failed import, say)."""
        return self.home / "standby.log"

    def fill(self) -> None:
        """Start standbys until `size` are waiting (called in the background)."""
        if self._filling:
            return
        self._filling = True
        try:
            while not self._closed and len(self._ready) < self.size:
                standby = self._start_one()
                if standby is None:
                    return  # logged; the next hand-out tries again
                self._ready.append(standby)
        finally:
            self._filling = False

    def fill_later(self) -> None:
        if self.size > 0 and not self._closed:
            self._spawn(self.fill)

    def hand(self, handoff: Handoff, log_file: BinaryIO) -> subprocess.Popen[bytes] | None:
        """A standby now running `handoff` with its output to `log_file`; None when no
        live standby took it (the caller starts a cold worker)."""
        try:
            while self._ready:
                standby = self._ready.popleft()
                if standby.popen.poll() is not None:
                    log.warning("a standby worker had exited (code %s)", standby.popen.returncode)
                    standby.close()
                    continue
                try:
                    socket.send_fds(standby.channel, [handoff.encode()], [log_file.fileno()])
                except OSError as exc:
                    log.warning("a standby worker could not take a record: %s", exc)
                    standby.close()
                    with contextlib.suppress(OSError):
                        standby.popen.kill()
                    continue
                standby.close()  # it has its record; our end is no longer needed
                return standby.popen
            return None
        finally:
            self.fill_later()

    def close(self) -> None:
        """Drop the waiting standbys: each sees end of file and exits."""
        self._closed = True
        while self._ready:
            standby = self._ready.popleft()
            standby.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                standby.popen.wait(2)

    def waiting(self) -> int:
        return len(self._ready)

    def _start_one(self) -> _Standby | None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.log_path(), "ab") as out:
                popen = subprocess.Popen(
                    self.command,
                    cwd=self.home,
                    env=self.env,
                    stdin=theirs.fileno(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # as a cold worker: its own process group
                )
        except OSError:
            log.exception("could not start a standby worker")
            ours.close()
            return None
        finally:
            theirs.close()
        return _Standby(popen, ours)
