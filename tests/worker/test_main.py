"""`python -m services.worker` as the cloud service runs it: usage, no job, abort while waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.worker.conftest import Bus, new_record_id

ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str, uri: str = "amqp://guest:guest@127.0.0.1:5672/", **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.worker", *args],
        cwd=kw.pop("cwd", ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT), "CYCLONE_AMQP_URI": uri},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize(
    "args", [(), ("--record-id", "not-an-id"), ("--record-id", "A" * 24), ("--bogus",)]
)
def test_bad_usage_exits_2(args):
    proc = worker(*args)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err


@pytest.mark.parametrize(
    ("raw", "said"), [("low", "must be an integer, got 'low'"), ("20", "must be 0 to 19, got 20")]
)
def test_a_bad_niceness_is_refused_with_its_name(raw, said):
    proc = subprocess.run(
        [sys.executable, "-m", "services.worker", "--check"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CYCLONE_WORKER_NICE": raw},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert f"CYCLONE_WORKER_NICE {said}" in proc.stderr


def test_check_mode_is_kept(amqp_uri):
    proc = worker("--check", uri=amqp_uri)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "broker ok" in out


def test_no_scheduler_means_exit_4_and_a_failed_run_report(bus: Bus, tmp_path):
    record_id = new_record_id()
    started = time.monotonic()
    proc = worker("--record-id", record_id, "--job-timeout", "2", uri=bus.uri, cwd=tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 4, err
    assert "could not get the job" in err
    assert time.monotonic() - started < 15
    events = bus.events(record_id)
    # Beating once the job is late (1 s): the heartbeat thread and the report are on separate
    # connections, so the first beat may reach the bus after the report (the process is gone:
    # all is there).
    kinds = [kind for kind, _ in events + bus.queued_events(record_id)]
    assert "heartbeat" in kinds
    finished = events[-1][1]
    assert finished["status"] == "Failed" and finished["error"].startswith("could not get the job")
    assert list(tmp_path.iterdir()) == []  # nothing was checked out


def test_sigterm_while_waiting_for_the_job_exits_3_at_once(bus: Bus, tmp_path):
    record_id = new_record_id()
    proc = worker("--record-id", record_id, "--job-timeout", "60", uri=bus.uri, cwd=tmp_path)
    bus.events(record_id, until="heartbeat")  # it is up and asking
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 3, err
    assert time.monotonic() - started < 2
    assert bus.events(record_id)[-1][1]["status"] == "Aborted"
