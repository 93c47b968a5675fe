"""Running one subprocess with its output streamed into the log as it is produced.

The worker must never hang on a child: on abort the child is terminated (killed after a
grace period), and a pipe held open by something the child left behind is abandoned after a
short wait instead of being read to its end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

POLL = 0.05  # seconds between checks of the abort flag while a child runs
STOP_GRACE = 1.0  # SIGTERM, then SIGKILL after this long
DRAIN_IDLE = 3.0  # after the child exited: stop reading once its pipe is silent this long
DRAIN_AFTER_ABORT = 0.3
MAX_LINE = 4 * 1024 * 1024  # longer lines are split (the logs service stores up to 4 MiB a line)
TAIL = 10  # output lines kept for error messages


@dataclass(frozen=True)
class Outcome:
    code: int  # the exit code; negative: killed by that signal
    aborted: bool
    tail: tuple[str, ...]  # the last output lines, for error messages

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.aborted


class _Pump:
    """Reads the child's output line by line; after `close()` late lines are dropped, so a
    straggler can never land in a later stage's part of the log."""

    def __init__(self, stream: IO[bytes], log: Callable[[str], None]) -> None:
        self._stream = stream
        self._log = log
        self._lock = threading.Lock()
        self._closed = False
        self.tail: deque[str] = deque(maxlen=TAIL)
        self.count = 0
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="output-pump")

    def _run(self) -> None:
        try:
            for raw in iter(lambda: self._stream.readline(MAX_LINE), b""):
                text = raw.decode("utf-8", errors="replace").removesuffix("\n")
                text = text.removesuffix("\r")
                with self._lock:
                    if self._closed:
                        return
                    if text.strip():
                        self.tail.append(text)
                    self.count += 1
                    if self.error is None:
                        try:
                            self._log(text)
                        except Exception as exc:  # noqa: BLE001 - re-raised by run()
                            self.error = exc  # keep reading: a full pipe would block the child
        except (OSError, ValueError):  # the pipe was closed under us: nothing more to read
            return

    def close(self) -> None:
        with self._lock:
            self._closed = True


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user a build's commands run as (the Local cloud run by root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> RunAs:
        """The user of that name; KeyError when there is none."""
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid)


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Callable[[str], None],
    abort: threading.Event,
    stdin: str | None = None,
    user: RunAs | None = None,
) -> Outcome:
    """Run `argv`, stdout and stderr merged into `log` line by line, until it exits or
    `abort` is set. An exception from `log` is raised once the child is done. `stdin` is
    written to the child's input (credentials: never on the command line, where ps shows it)."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Popen's defaults without a user; with one, no supplementary groups: root's (and
            # the worker's) groups stay with them.
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
            umask=0o022 if user else -1,
        )
    except OSError as exc:
        log(f"cannot start {argv[0]}: {exc.strerror or exc}")
        return Outcome(127, False, (f"cannot start {argv[0]}: {exc.strerror or exc}",))
    assert proc.stdout is not None
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except OSError:
            pass  # the child exited without reading; its output says why
    pump = _Pump(proc.stdout, log)
    pump.thread.start()
    _wait(proc, abort)
    _drain(pump, abort)
    pump.close()
    if not pump.thread.is_alive():  # else a leftover holds the pipe: leave it to the pump
        proc.stdout.close()
    if pump.error is not None:
        raise pump.error
    aborted = abort.is_set()
    code = proc.returncode if proc.returncode is not None else -9
    return Outcome(code, aborted, tuple(pump.tail))


def _wait(proc: subprocess.Popen[bytes], abort: threading.Event) -> None:
    """Until the child exits, or `abort` is set (then it is stopped). The exit is seen the
    moment it happens through a pidfd: `Popen.wait(timeout)` polls with sleeps doubling from
    0.5 ms, and saw a command's end up to a third of its run late, at most about 18 ms
    (bench.commands, p50: `sleep 0.01` done after 16.7 ms instead of 11.8, `true` after 1.7
    instead of 1.1). Without pidfds (Linux before 5.3) it polls as before."""
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    exit_seen = None
    if pidfd is not None:
        exit_seen = select.poll()
        exit_seen.register(pidfd, select.POLLIN)  # readable once the process has exited
    try:
        while not _exited(proc, exit_seen, POLL):
            if abort.is_set():
                _stop(proc)
                return
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _exited(proc: subprocess.Popen[bytes], exit_seen: select.poll | None, seconds: float) -> bool:
    """Whether the child exited (then it is reaped) within `seconds`: seen on its pidfd's
    poll, or else by Popen's polling."""
    if exit_seen is not None:
        if not exit_seen.poll(seconds * 1000):
            return False
        proc.wait()  # returns at once
        return True
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _drain(pump: _Pump, abort: threading.Event) -> None:
    """Read what the child left in the pipe. Something it started in the background may keep
    the pipe open: give up once no line came for DRAIN_IDLE (or soon after an abort)."""
    seen, idle_since = pump.count, time.monotonic()
    while pump.thread.is_alive():
        pump.thread.join(POLL)
        if abort.is_set():
            pump.thread.join(DRAIN_AFTER_ABORT)
            return
        if pump.count != seen:
            seen, idle_since = pump.count, time.monotonic()
        elif time.monotonic() - idle_since > DRAIN_IDLE:
            return


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill. Usually the child already got SIGTERM with its process group."""
    try:
        proc.terminate()
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # unkillable (D state): move on
            proc.wait(timeout=STOP_GRACE)


def capture(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 60) -> str:
    """Run a quick query (rev-parse, log -1, svn info) and return its stdout; raises
    CalledProcessError when it fails."""
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout.decode("utf-8", errors="replace")
