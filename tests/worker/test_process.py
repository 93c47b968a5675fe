"""One build command under services/worker/stages/process.run: its exit seen through a pidfd,
and the polling kept for kernels without pidfds."""

from __future__ import annotations

import errno
import subprocess
import threading
import time
from pathlib import Path

import pytest

from services.worker.stages import process

ENV = {"PATH": "/usr/bin:/bin"}


def run(argv: list[str], cwd: Path, abort: threading.Event | None = None) -> process.Outcome:
    lines: list[str] = []
    return process.run(argv, cwd=cwd, env=ENV, log=lines.append, abort=abort or threading.Event())


def abort_after(seconds: float) -> threading.Event:
    abort = threading.Event()
    threading.Timer(seconds, abort.set).start()
    return abort


def refuse_pidfds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel before Linux 5.3: pidfd_open fails with ENOSYS."""

    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(process.os, "pidfd_open", refused)


def test_the_exit_is_awaited_on_a_pidfd_not_polled(tmp_path, monkeypatch):
    waits: list[float | None] = []
    real_wait = subprocess.Popen.wait

    def recorded(self: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        waits.append(timeout)
        return real_wait(self, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", recorded)
    outcome = run(["sh", "-c", "echo one; sleep 0.3; exit 3"], tmp_path)
    assert (outcome.code, outcome.aborted, outcome.tail) == (3, False, ("one",))
    assert waits == [None]  # one wait, for a process known to have exited: no timed polls


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "polled"])
def test_an_abort_stops_a_command(tmp_path, monkeypatch, pidfds):
    if not pidfds:
        refuse_pidfds(monkeypatch)
    began = time.monotonic()
    outcome = run(["sleep", "30"], tmp_path, abort_after(0.2))
    assert outcome.aborted
    assert time.monotonic() - began < 10  # stopped, not run to its end


def test_without_pidfds_a_command_still_ends_with_its_code(tmp_path, monkeypatch):
    refuse_pidfds(monkeypatch)
    outcome = run(["sh", "-c", "echo two; exit 4"], tmp_path)
    assert (outcome.code, outcome.aborted, outcome.tail) == (4, False, ("two",))
