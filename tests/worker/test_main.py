"""`python -m services.worker` as the cloud service runs it: usage, no job, abort while waiting,
a job handed with the launch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.cloud.backends.forkserver import job_file
from tests.repos import GitRepo
from tests.worker.conftest import Bus, make_job, new_record_id

ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str, uri: str = "amqp://guest:guest@127.0.0.1:5672/", **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.worker", *args],
        pass_fds=kw.pop("pass_fds", ()),
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


def run_handed(
    record_id: str, job: object, bus: Bus, cwd: Path, cut: bool = False
) -> tuple[int, str]:
    """A worker run with `job` handed on a descriptor as the cloud service makes it (`cut`: a
    JSON document cut short), no scheduler on the bus: its exit code and stderr."""
    fd = job_file(job)  # type: ignore[arg-type]
    if cut:
        os.ftruncate(fd, 3)
    try:
        args = ("--record-id", record_id, "--job-fd", str(fd), "--job-timeout", "2")
        proc = worker(*args, uri=bus.uri, cwd=cwd, pass_fds=(fd,))
    finally:
        os.close(fd)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_a_handed_job_runs_without_asking_and_its_descriptor_is_closed_first(
    bus: Bus, tmp_path, git_repo: GitRepo
):
    """No scheduler answers on this vhost: a worker that asked for its job would exit 4. The
    job's descriptor (as the cloud service makes it) is read and closed before any command
    runs: neither the build's shell nor the worker holds it then."""
    record_id = new_record_id()
    fds = "ls -l /proc/$$/fd /proc/$PPID/fd"  # the shell's and the worker's open descriptors
    job = {**make_job(git_repo.url, package=[fds, "echo ran"]), "record_id": record_id}
    code, err = run_handed(record_id, job, bus, tmp_path)
    assert code == 0, (err, [b["lines"] for b in bus.batches(record_id)])
    assert f"running {record_id} (job handed with its launch)" in err
    events = bus.events(record_id)
    started = [p["stage"] for k, p in events if k == "stage_started"]
    assert started == ["codeCheckout", "package"], events
    assert events[-1][1]["status"] == "Success"
    lines = [line for b in bus.batches(record_id) for line in b["lines"]]
    assert "ran" in lines
    listed = [line for line in lines if " -> " in line]
    assert any("pipe:" in line or "socket:" in line for line in listed), lines  # it listed
    assert not [line for line in listed if "cyclone-job" in line], listed


@pytest.mark.parametrize("handed", ["another record's", "not a job", "unreadable"])
def test_a_handed_job_not_the_records_is_asked_for_instead(bus: Bus, tmp_path, handed):
    record_id = new_record_id()
    job: object = {**make_job(package=["echo x"]), "record_id": new_record_id()}
    if handed == "not a job":
        job = {"record_id": record_id, "stages": "all"}
    code, err = run_handed(record_id, job, bus, tmp_path, cut=handed == "unreadable")
    assert code == 4, err  # it asked the scheduler, which is not there
    said = {
        "another record's": "is another record's job",
        "not a job": "the job handed with the launch is not job",
        "unreadable": "is unreadable",
    }[handed]
    assert said in err and "asking for it" in err, err
    assert "could not get the job" in err
    assert list(tmp_path.iterdir()) == []  # nothing was checked out
