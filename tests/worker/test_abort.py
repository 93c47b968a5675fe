"""Abort: SIGTERM to the worker's process group, as the cloud service sends it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.worker.runtime import Runner
from tests.repos import GitRepo
from tests.waiting import wait_for
from tests.worker.conftest import Bus, MemorySink, make_job, new_record_id

ROOT = Path(__file__).resolve().parents[2]


def read_pid(path: Path) -> int | None:
    """The pid a shell wrote, once the whole line is there (the file exists before it is)."""
    text = path.read_text() if path.exists() else ""
    return int(text) if text.endswith("\n") else None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    "command",
    [
        "echo $$ > ../sh.pid; sleep 30",
        "trap '' TERM; echo $$ > ../sh.pid; sleep 30",  # a command that ignores SIGTERM
    ],
)
def test_sigterm_aborts_the_running_command_and_reports_aborted(
    bus: Bus, git_repo: GitRepo, tmp_path, command
):
    record_id = new_record_id()
    workspace = tmp_path / "ws"
    workspace.mkdir()
    job = make_job(git_repo.url, unit=["echo testing"], package=[command, "echo never"])
    job["record_id"] = record_id
    (tmp_path / "job.json").write_text(json.dumps(job))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.worker.harness",
            bus.uri,
            str(tmp_path / "job.json"),
            str(workspace),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # its own process group, as the cloud service starts it
    )
    try:
        sh_pid = wait_for(lambda: read_pid(workspace / "sh.pid"), 20, "the shell's pid")
        started = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=3) == 3
        assert time.monotonic() - started < 3
        assert not alive(sh_pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # what the cloud service does 3 s later
        worker.wait()

    events = bus.events(record_id)
    package = [p for kind, p in events if kind == "stage_finished" and p["stage"] == "package"]
    assert package[0]["status"] == "Aborted" and package[0]["error"] == "aborted"
    assert events[-1][1]["status"] == "Aborted" and events[-1][1]["error"] == "aborted"
    batches = bus.batches(record_id)
    lines = [line for b in batches for line in b["lines"]]
    assert lines[-2:] == [f"$ {command}", "Stage: Package status: fail with error: aborted"]
    assert "never" not in lines and "$ echo never" not in lines
    assert batches[-1]["eof"] and batches[-1]["seq"] + len(batches[-1]["lines"]) == len(lines) + 1
    assert events[-1][1]["log_lines"] == len(lines)


def test_abort_between_stages_starts_nothing_more(workspace, sink: MemorySink):
    abort = threading.Event()
    (workspace / "code").mkdir()
    runner = Runner(make_job(unit=["echo u"]), sink, workspace, abort)
    abort.set()
    assert runner.run() == "Aborted"
    assert [k for k, _ in sink.events] == ["run_finished"]
    assert sink.run_finished["status"] == "Aborted" and sink.run_finished["log_lines"] == 0
    assert sink.ended == "codeCheckout"


def test_abort_in_process_stops_a_command_quickly(workspace, sink: MemorySink):
    abort = threading.Event()
    (workspace / "code").mkdir()
    runner = Runner(make_job(unit=["exec sleep 30"]), sink, workspace, abort)
    timer = threading.Timer(0.3, abort.set)
    timer.start()
    started = time.monotonic()
    result = runner.run_stage("unitTest")
    assert time.monotonic() - started < 2.5
    assert (result.status, result.error) == ("Aborted", "aborted")
    assert sink.text()[-1] == "Stage: Unit test status: fail with error: aborted"
    assert sink.finished("unitTest")["status"] == "Aborted"
