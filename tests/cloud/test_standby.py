"""Warm workers (services/cloud/backends/standby.py, services/worker/standby.py): real
standby processes of the real worker, handed records by a real Local driver."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.cloud.backends.base import DEFAULT_COMMAND, DriverContext, SavedWorker
from services.cloud.backends.hostworkers import host_env, is_worker_process
from services.cloud.backends.local.driver import LocalDriver
from services.cloud.backends.standby import Standbys
from shared.contracts.launch import STANDBY_FLAG, Handoff
from tests.cloud.helpers import new_record_id, pid_alive
from tests.waiting import wait_for

SECRET = "the stack's secret key"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def service_env(data_dir: Path, amqp_uri: str) -> dict[str, str]:
    return {
        **os.environ,
        "CYCLONE_DATA_DIR": str(data_dir),
        "CYCLONE_SECRET_KEY": SECRET,
        "CYCLONE_AMQP_URI": amqp_uri,
    }


@pytest.fixture
def pools(data_dir: Path):
    """Standby pools made by a test, closed afterwards (their standbys exit)."""
    made: list[Standbys] = []
    yield made
    for pool in made:
        pool.close()


def make_pool(data_dir: Path, env: dict[str, str], size: int, pools: list[Standbys]) -> Standbys:
    pool = Standbys(DEFAULT_COMMAND, host_env(env), data_dir / "workspaces", size, spawn=_now)
    pools.append(pool)
    pool.fill()
    return pool


def _now(fn, *args):
    fn(*args)


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


def test_a_standby_becomes_the_worker_it_is_handed(data_dir, amqp_uri, pools, tmp_path):
    pool = make_pool(data_dir, service_env(data_dir, "amqp://nobody@127.0.0.1:1/"), 1, pools)
    (standby,) = list(pool._ready)
    # Waiting: imported, in its own process group, without the stack's keys.
    assert os.getpgid(standby.popen.pid) == standby.popen.pid
    assert "CYCLONE_SECRET_KEY" not in environ_of(standby.popen.pid)
    workspace = tmp_path / "work"
    workspace.mkdir()
    log = tmp_path / "worker.log"
    # `--check` checks the broker its environment names: the handed one, not its own.
    handoff = Handoff(
        ["--check"], str(workspace), {**host_env(os.environ), "CYCLONE_AMQP_URI": amqp_uri}
    )
    with open(log, "ab") as out:
        popen = pool.hand(handoff, out)
    assert popen is standby.popen
    assert popen.wait(30) == 0
    assert "broker ok" in log.read_text()
    assert pool.waiting() == 1  # replaced


def test_the_handed_exit_code_is_the_workers(data_dir, pools, tmp_path):
    pool = make_pool(data_dir, service_env(data_dir, "amqp://x@127.0.0.1:1/"), 1, pools)
    handoff = Handoff(["--check"], str(tmp_path), {"CYCLONE_AMQP_URI": "amqp://x:y@127.0.0.1:1/"})
    with open(tmp_path / "log", "ab") as out:
        popen = pool.hand(handoff, out)
    assert popen is not None
    assert popen.wait(30) == 1
    assert "broker unreachable" in (tmp_path / "log").read_text()


def test_dead_standbys_are_skipped_and_an_empty_pool_hands_nothing(data_dir, pools, tmp_path):
    pool = make_pool(data_dir, service_env(data_dir, "amqp://x@127.0.0.1:1/"), 2, pools)
    first, second = list(pool._ready)
    first.popen.kill()
    first.popen.wait(10)
    handoff = Handoff(["--check"], str(tmp_path), {"CYCLONE_AMQP_URI": "amqp://x:y@127.0.0.1:1/"})
    with open(tmp_path / "log", "ab") as out:
        assert pool.hand(handoff, out) is second.popen
    second.popen.wait(30)
    empty = Standbys(DEFAULT_COMMAND, {}, data_dir, 0)
    with open(tmp_path / "log", "ab") as out:
        assert empty.hand(handoff, out) is None


def test_a_closed_pool_lets_its_standbys_exit(data_dir, pools):
    pool = make_pool(data_dir, service_env(data_dir, "amqp://x@127.0.0.1:1/"), 2, pools)
    popens = [s.popen for s in pool._ready]
    pool.close()
    assert [p.wait(10) for p in popens] == [0, 0]
    pool.fill()
    assert pool.waiting() == 0  # closed for good


def test_a_malformed_handoff_is_refused(data_dir, pools):
    pool = make_pool(data_dir, service_env(data_dir, "amqp://x@127.0.0.1:1/"), 1, pools)
    standby = pool._ready.popleft()
    with open(os.devnull, "rb") as null:
        socket.send_fds(standby.channel, [b'{"argv": "not a list"}'], [null.fileno()])
    assert standby.popen.wait(30) == 2
    assert "argv must be a list" in pool.log_path().read_text()
    standby.close()


def test_a_local_driver_runs_records_on_standbys_and_a_restart_adopts_them(
    data_dir, amqp_uri, pools
):
    env = service_env(data_dir, amqp_uri)
    pool = make_pool(data_dir, env, 1, pools)
    (standby,) = list(pool._ready)
    context = DriverContext(data_dir, amqp_uri, environ=env, standbys=pool)
    driver = LocalDriver("local", context, build_user="")
    record_id = new_record_id()
    # No scheduler answers on this vhost: the worker keeps asking for its job meanwhile.
    driver.start(record_id, "proj", "pipe", {})
    handle = driver.handle(record_id)
    assert handle["pid"] == standby.popen.pid == handle["pgid"]
    log = data_dir / "workspaces" / f"{record_id}.worker.log"
    # Its record is known by its workspace, though its command line says --standby.
    wait_for(lambda: is_worker_process(standby.popen.pid, record_id), 10, "the worker's cwd")
    assert not is_worker_process(standby.popen.pid, new_record_id())
    # A restarted service adopts it from the saved handle and can stop it.
    after = LocalDriver("local", DriverContext(data_dir, amqp_uri, environ=env), build_user="")
    after.adopt([SavedWorker(record_id, "proj", "pipe", datetime.now(UTC), handle, "local")])
    assert [w["recordID"] for w in after.list()] == [record_id]
    assert after.stop(record_id)
    assert not pid_alive(standby.popen.pid)
    (report,) = after.poll()
    assert report.record_id == record_id
    assert log.read_text().count("starting") >= 1


def test_a_standby_waits_on_a_non_blocking_channel(data_dir, tmp_path):
    """The cloud service's sockets are eventlet's, non-blocking: the standby still waits."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setblocking(False)
    env = host_env(service_env(data_dir, "amqp://x@127.0.0.1:1/"))
    with open(tmp_path / "standby.log", "ab") as out:
        popen = subprocess.Popen(
            [*DEFAULT_COMMAND, STANDBY_FLAG], env=env, stdin=theirs, stdout=out, stderr=out
        )
    theirs.close()
    try:
        time.sleep(3)  # imported and waiting by now
        assert popen.poll() is None, (tmp_path / "standby.log").read_text()
        handoff = Handoff(
            ["--check"], str(tmp_path), {"CYCLONE_AMQP_URI": "amqp://x:y@127.0.0.1:1/"}
        )
        with open(tmp_path / "log", "ab") as log:
            socket.send_fds(ours, [handoff.encode()], [log.fileno()])
        assert popen.wait(30) == 1  # the broker of its hand-off is unreachable
    finally:
        ours.close()
        if popen.poll() is None:
            popen.kill()
