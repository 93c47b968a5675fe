"""The Local driver on its own: real child processes, no broker, no database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.cloud.backends.base import DriverContext, ExitReport, SavedWorker
from services.cloud.backends.hostworkers import (
    REMOVING,
    ROOT,
    find_worker_leader,
    group_members,
    parse_stat,
    remove_workspace,
)
from services.cloud.backends.local.driver import LocalDriver
from tests.cloud.helpers import (
    STANDIN_COMMAND,
    new_record_id,
    pid_alive,
    plan,
    release,
    seen,
)
from tests.waiting import holds_for, wait_for

AMQP = "amqp://guest:guest@127.0.0.1:5672/test"
TREE = "sleep 100 & sleep 100 & wait"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def make_driver(data_dir: Path, command: list[str] = STANDIN_COMMAND) -> LocalDriver:
    env = {**os.environ, "CYCLONE_DATA_DIR": str(data_dir), "CYCLONE_SECRET_KEY": "k"}
    return LocalDriver("local", DriverContext(data_dir, AMQP, command=command, environ=env))


@pytest.fixture
def drivers(data_dir: Path):
    """Drivers made by a test; whatever they still run is stopped afterwards."""
    made: list[LocalDriver] = []
    yield made
    for driver in made:
        for info in driver.list():
            driver.stop(info["recordID"])
        driver.poll()


def exit_of(driver: LocalDriver, record_id: str, timeout: float = 10) -> ExitReport:
    found: list[ExitReport] = []

    def ended() -> bool:
        found.extend(r for r in driver.poll() if r.record_id == record_id)
        return bool(found)

    wait_for(ended, timeout, f"the exit of {record_id}")
    return found[0]


@pytest.mark.parametrize(("code", "reason"), [(0, "exited with code 0"), (1, "exited with code 1")])
def test_worker_runs_in_its_workspace_and_reports_its_exit(data_dir, drivers, code, reason):
    driver = make_driver(data_dir)
    drivers.append(driver)
    record_id = new_record_id()
    plan(data_dir, record_id, 0.2, code)

    info = driver.start(record_id, "proj", "pipe", {})

    assert info["name"] == f"cyclone-worker-{record_id}"
    assert (info["status"], info["recordID"], info["cloud"]) == ("Running", record_id, "local")
    assert (info["projectName"], info["pipelineName"]) == ("proj", "pipe")
    assert [w["recordID"] for w in driver.list()] == [record_id]
    started = seen(data_dir, record_id)
    workspace = data_dir / "workspaces" / record_id
    assert started["cwd"] == str(workspace)
    assert started["argv"][-2:] == ["--record-id", record_id]
    assert started["pgid"] == started["pid"] == started["sid"]  # its own session and group
    env = started["env"]
    assert env["CYCLONE_RECORD_ID"] == record_id
    assert env["CYCLONE_AMQP_URI"] == AMQP
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    assert "CYCLONE_SECRET_KEY" not in env

    assert exit_of(driver, record_id) == ExitReport(record_id, code, reason)
    assert not workspace.exists()
    log = (data_dir / "workspaces" / f"{record_id}.worker.log").read_text()
    assert f"stand-in for {record_id} running" in log
    assert reason in log
    assert driver.list() == []
    assert driver.poll() == []  # reported once
    assert driver.stop(record_id) is False


def test_start_is_idempotent_and_a_second_run_gets_a_fresh_workspace(data_dir, drivers):
    driver = make_driver(data_dir)
    drivers.append(driver)
    record_id = new_record_id()
    first = driver.start(record_id, "p", "q", {})
    pid = seen(data_dir, record_id)["pid"]
    assert driver.start(record_id, "p", "q", {}) == first
    assert len(driver.list()) == 1
    (data_dir / "workspaces" / record_id / "junk").write_text("x")

    assert driver.stop(record_id) is True
    assert exit_of(driver, record_id).reason == "killed by signal 15 (stop requested)"
    (data_dir / f"{record_id}.seen.json").unlink()
    driver.start(record_id, "p", "q", {})
    assert seen(data_dir, record_id)["pid"] != pid
    assert not (data_dir / "workspaces" / record_id / "junk").exists()


@pytest.mark.parametrize(
    ("script", "reason", "min_seconds"),
    [
        (TREE, "killed by signal 15 (stop requested)", 0),
        ("trap '' TERM; " + TREE, "killed by signal 9 (stop requested)", 2.9),
    ],
    ids=["sigterm", "ignores-sigterm"],
)
def test_stop_kills_the_whole_process_tree(data_dir, drivers, script, reason, min_seconds):
    driver = make_driver(data_dir, ["sh", "-c", script])
    drivers.append(driver)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    pgid = driver.handle(record_id)["pgid"]
    tree = wait_for(lambda: len(group_members(pgid)) == 3 and group_members(pgid), 5, "3 procs")

    began = time.monotonic()
    assert driver.stop(record_id) is True
    took = time.monotonic() - began

    assert min_seconds <= took < 5
    assert not [pid for pid in tree if pid_alive(pid)]
    assert exit_of(driver, record_id).reason == reason
    assert driver.stop(record_id) is False  # idempotent
    assert driver.stop(new_record_id()) is False  # unknown


def test_leftovers_of_a_finished_worker_are_killed(data_dir, drivers):
    driver = make_driver(data_dir, ["sh", "-c", "sleep 100 & echo $! > ../left.pid; exit 3"])
    drivers.append(driver)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    report = exit_of(driver, record_id)
    assert (report.exit_code, report.reason) == (3, "exited with code 3")
    left = int((data_dir / "workspaces" / "left.pid").read_text())
    wait_for(lambda: not pid_alive(left), 2, "the leftover sleep to go")


def test_a_restarted_driver_adopts_running_workers(data_dir, drivers):
    before = make_driver(data_dir)
    drivers.append(before)
    ends, runs = new_record_id(), new_record_id()
    plan(data_dir, ends, 600)  # ends when released below, not after some time
    before.start(ends, "p", "ends", {})
    before.start(runs, "p", "runs", {})
    pids = {rid: seen(data_dir, rid)["pid"] for rid in (ends, runs)}
    saved = [
        SavedWorker(rid, "p", rid, datetime.now(UTC), before.handle(rid)) for rid in (ends, runs)
    ]

    after = make_driver(data_dir)  # the service restarted: pids only, no Popen
    drivers.append(after)
    after.adopt(saved)
    after.adopt(saved)  # twice is harmless
    assert sorted(w["recordID"] for w in after.list()) == sorted([ends, runs])
    assert after.poll() == []  # both still run

    assert after.stop(runs) is True
    assert not pid_alive(pids[runs])
    reports = {r.record_id: r for r in after.poll()}
    assert reports == {runs: ExitReport(runs, None, "worker process disappeared (stop requested)")}
    release(data_dir, ends)
    assert exit_of(after, ends) == ExitReport(ends, None, "worker process disappeared")
    assert after.list() == []
    assert not (data_dir / "workspaces" / ends).exists()
    assert not (data_dir / "workspaces" / runs).exists()
    assert after.stop(runs) is False


def test_a_start_redelivered_after_a_crash_before_saving_takes_over_the_first_worker(
    data_dir, drivers
):
    """The cloud service spawned a worker and died before saving it; the start_worker call
    comes again (redelivered) to a new service: no second worker in the same workspace."""
    crashed = make_driver(data_dir)
    drivers.append(crashed)
    rid = new_record_id()
    plan(data_dir, rid, 600)
    first = crashed.start(rid, "p", "p", {})
    pid = seen(data_dir, rid)["pid"]
    (data_dir / "workspaces" / rid / "mark").write_text("made by the first worker")

    restarted = make_driver(data_dir)  # knows nothing of it: it was never saved
    drivers.append(restarted)
    again = restarted.start(rid, "p", "p", {})
    assert again["recordID"] == first["recordID"] == rid
    assert restarted.handle(rid)["pid"] == pid and pid_alive(pid)
    assert (data_dir / "workspaces" / rid / "mark").exists()  # the workspace was kept
    # no second stand-in notes its start
    holds_for(lambda: seen(data_dir, rid)["pid"] == pid, 0.5, "the first stand-in's start")
    crashed.processes._workers.clear()  # the crashed one is gone: only the new service watches it
    release(data_dir, rid)
    assert exit_of(restarted, rid).record_id == rid


def test_one_start_delivered_to_two_replicas_at_once_starts_one_worker(data_dir, drivers):
    """A replica took the start, and its broker connection was cut before the ack: the call
    is delivered again to another replica while the first is still starting the worker (the
    first has made the workspace, its worker is not in it yet). Before the host-wide start
    lock, the second removed that workspace and started a second worker (bench.chaos)."""
    first, second = make_driver(data_dir), make_driver(data_dir)
    drivers.extend([first, second])
    rid = new_record_id()
    plan(data_dir, rid, 600)
    launch_of = first.launch_of

    def slow_launch(record_id: str):
        time.sleep(0.5)  # the workspace is there, the worker not yet
        return launch_of(record_id)

    first.launch_of = slow_launch  # type: ignore[method-assign]
    answers: list[dict] = []
    taking = threading.Thread(target=lambda: answers.append(first.start(rid, "p", "p", {})))
    taking.start()
    wait_for((data_dir / "workspaces" / rid).exists, 5, "the first replica's workspace")
    again = second.start(rid, "p", "p", {})
    taking.join(10)
    pid = seen(data_dir, rid)["pid"]
    assert answers and answers[0]["recordID"] == again["recordID"] == rid
    assert first.handle(rid)["pid"] == second.handle(rid)["pid"] == pid
    leaders = [p for p in group_members(pid) if p == pid]
    assert leaders == [pid] and find_worker_leader(rid) == pid
    holds_for(lambda: seen(data_dir, rid)["pid"] == pid, 0.5, "the one stand-in's start")
    second.processes._workers.clear()  # one watcher is enough for the exit below
    release(data_dir, rid)
    assert exit_of(first, rid).record_id == rid


def test_an_adopted_pid_now_used_by_another_process_is_left_alone(data_dir, drivers):
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        record_id = new_record_id()
        handle = {"pid": stranger.pid, "pgid": stranger.pid, "workspace": str(data_dir / "w")}
        driver = make_driver(data_dir)
        drivers.append(driver)
        driver.adopt([SavedWorker(record_id, "p", "q", datetime.now(UTC), handle)])

        assert driver.stop(record_id) is False
        assert driver.poll() == [ExitReport(record_id, None, "worker process disappeared")]
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_killed_from_outside_reports_the_signal(data_dir, drivers):
    driver = make_driver(data_dir)
    drivers.append(driver)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    os.kill(seen(data_dir, record_id)["pid"], signal.SIGKILL)
    assert exit_of(driver, record_id) == ExitReport(record_id, -9, "killed by signal 9")


def test_discard_stops_the_worker_and_removes_its_log(data_dir, drivers):
    driver = make_driver(data_dir)
    drivers.append(driver)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    seen(data_dir, record_id)
    log = data_dir / "workspaces" / f"{record_id}.worker.log"
    assert log.exists()

    driver.discard(record_id)
    assert exit_of(driver, record_id).exit_code == -signal.SIGTERM
    assert not log.exists()
    assert not (data_dir / "workspaces" / record_id).exists()
    driver.discard(record_id)  # again: nothing to do


def test_a_command_that_cannot_start_leaves_nothing(data_dir):
    driver = make_driver(data_dir, [str(data_dir / "no-such-program")])
    record_id = new_record_id()
    with pytest.raises(FileNotFoundError):
        driver.start(record_id, "p", "q", {})
    assert driver.list() == []
    assert not (data_dir / "workspaces" / record_id).exists()


def test_python_of_the_service_runs_the_worker_by_default(data_dir):
    driver = LocalDriver("local", DriverContext(data_dir, AMQP))
    assert driver.command == [sys.executable, "-m", "services.worker"]


def test_an_empty_group_is_answered_without_reading_every_process(monkeypatch):
    """Each ended worker's group is checked for leftovers: an empty one must not cost a scan
    of /proc (1.2 ms here with 104 processes, more on a busy host, on the service's hub)."""
    alive = subprocess.Popen(["sleep", "30"], start_new_session=True)
    zombie = subprocess.Popen(["true"], start_new_session=True)
    try:
        assert group_members(alive.pid) == [alive.pid]
        wait_for(lambda: _state(zombie.pid) == "Z", 5, "the zombie")
        assert group_members(zombie.pid) == []  # a zombie is in the group, but not alive
    finally:
        alive.kill()
        alive.wait()
        zombie.wait()

    def no_scan(path: object) -> list[str]:
        raise AssertionError(f"listed {path}")

    monkeypatch.setattr(os, "listdir", no_scan)
    assert group_members(alive.pid) == [] and group_members(zombie.pid) == []


def _state(pid: int) -> str:
    return parse_stat(Path(f"/proc/{pid}/stat").read_bytes())[0]


def test_a_workspace_goes_at_once_and_its_files_on_a_thread_of_their_own(tmp_path, monkeypatch):
    """Deleting a big checkout took the cloud service's hub (and the services sharing its
    process) for as long as it lasted: the caller now only renames it away."""
    workspace = tmp_path / new_record_id()
    for d in range(20):
        (workspace / "code" / f"d{d}").mkdir(parents=True)
        for f in range(50):
            (workspace / "code" / f"d{d}" / f"f{f}").write_text("x")
    deleting: list[int] = []
    real_rmtree = shutil.rmtree

    def rmtree(path: Path, **kw: object) -> None:
        deleting.append(threading.get_ident())
        real_rmtree(path, **kw)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    remove_workspace(workspace)
    assert not workspace.exists()
    wait_for(lambda: list(tmp_path.iterdir()) == [], 10, "the renamed workspace to go")
    assert len(deleting) == 1 and deleting[0] != threading.get_ident()  # not the caller's
    remove_workspace(workspace)  # gone already: nothing to do


def test_a_deletion_cut_short_is_finished_by_the_next_start(data_dir, drivers):
    left = data_dir / "workspaces" / f"{REMOVING}{new_record_id()}-0a1b2c3d"
    (left / "code").mkdir(parents=True)
    (left / "code" / "file").write_text("x")
    driver = make_driver(data_dir)
    drivers.append(driver)
    record_id = new_record_id()
    plan(data_dir, record_id, 0.1, 0)
    driver.start(record_id, "p", "q", {})
    wait_for(lambda: not left.exists(), 10, "the leftover to go")
    exit_of(driver, record_id)
