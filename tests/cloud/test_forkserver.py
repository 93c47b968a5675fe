"""Forked workers (services/cloud/backends/forkserver.py, services/worker/forkserver.py): a
real fork server of the real worker, handed records directly and by a real Local driver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import MongoClient

from services.cloud.backends.base import DEFAULT_COMMAND, DriverContext, SavedWorker
from services.cloud.backends.forkserver import ForkServer
from services.cloud.backends.hostworkers import host_env, is_worker_process
from services.cloud.backends.local.driver import LocalDriver
from services.cloud.store import WorkerStore
from services.cloud.supervisor import Supervisor
from shared.contracts import launch
from shared.contracts.launch import FORK_SERVER_FLAG, Handoff, WorkerLaunch
from tests.cloud.helpers import new_record_id, pid_alive
from tests.waiting import holds_for, wait_for
from tests.worker.conftest import make_job

SECRET = "the stack's secret key"
NOWHERE = "amqp://x:y@127.0.0.1:1/"  # no broker answers there


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


def in_thread(fn, *args) -> None:
    threading.Thread(target=fn, args=args, daemon=True).start()


@pytest.fixture
def servers(data_dir: Path) -> Iterator[list[ForkServer]]:
    """Fork servers made by a test, closed afterwards (each exits once its workers have)."""
    made: list[ForkServer] = []
    yield made
    for server in made:
        server.close()


def make_server(data_dir: Path, servers: list[ForkServer]) -> ForkServer:
    env = host_env(service_env(data_dir, NOWHERE))
    server = ForkServer(DEFAULT_COMMAND, env, data_dir / "workspaces", spawn=in_thread)
    servers.append(server)
    assert server.start()
    return server


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def exit_of(server: ForkServer, pid: int, timeout: float = 30) -> int:
    wait_for(lambda: server.exit_of(pid) is not None, timeout, f"the exit of {pid}")
    code = server.exit_of(pid)
    assert code is not None
    return code


def check_broker(server: ForkServer, tmp_path: Path, uri: str) -> tuple[int, str]:
    """A worker forked to run `--check` against `uri`: its exit status and its log."""
    log = tmp_path / f"check-{time.monotonic_ns()}.log"
    handoff = Handoff(["--check"], str(tmp_path), {**host_env(os.environ), "CYCLONE_AMQP_URI": uri})
    with open(log, "ab") as out:
        pid = server.hand(handoff, out)
    assert pid is not None
    code = exit_of(server, pid)
    return code, log.read_text()


def test_a_forked_worker_runs_its_handoff_and_its_exit_is_reported(
    data_dir, amqp_uri, servers, tmp_path
):
    server = make_server(data_dir, servers)
    assert "CYCLONE_SECRET_KEY" not in environ_of(server._popen.pid)  # the stack's keys stay
    # `--check` checks the broker its environment names: the handed one, not the server's.
    assert check_broker(server, tmp_path, amqp_uri) == (0, "broker ok\n")
    code, log = check_broker(server, tmp_path, NOWHERE)
    assert code == 1 and "broker unreachable" in log


def test_a_forked_worker_has_its_own_session_workspace_and_environment(data_dir, servers, tmp_path):
    server = make_server(data_dir, servers)
    workspace = tmp_path / new_record_id()
    workspace.mkdir()
    env = {**host_env(os.environ), "CYCLONE_AMQP_URI": NOWHERE, "MARK": "handed"}
    record_id = workspace.name
    with open(tmp_path / "w.log", "ab") as out:
        # No broker answers: the worker keeps asking for its job meanwhile.
        pid = server.hand(Handoff(["--record-id", record_id], str(workspace), env), out)
    assert pid is not None
    try:
        assert os.getsid(pid) == pid == os.getpgid(pid)
        assert os.readlink(f"/proc/{pid}/cwd") == str(workspace)
        # It gives way to the services (bench/busyhost.py), once it has started its main.
        wait_for(lambda: niceness(pid) == 10, 10, "the worker's niceness")
        assert is_worker_process(pid, record_id)
        assert not is_worker_process(pid, new_record_id())
        os.kill(pid, signal.SIGKILL)
        assert exit_of(server, pid) == -signal.SIGKILL
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_docker_clouds_worker_keeps_its_priority(data_dir, servers, tmp_path):
    """Its build's commands run in containers the engine starts, not as its children: a
    niceness would slow only the worker."""
    server = make_server(data_dir, servers)
    workspace = tmp_path / new_record_id()
    workspace.mkdir()
    env = {**host_env(os.environ), "CYCLONE_AMQP_URI": NOWHERE, launch.EXECUTOR: "docker"}
    with open(tmp_path / "w.log", "ab") as out:
        pid = server.hand(Handoff(["--record-id", workspace.name], str(workspace), env), out)
    assert pid is not None
    try:
        # Past its start (where it would lower its priority) it has started its threads.
        wait_for(lambda: threads_of(pid) > 1, 10, "the worker's threads")
        assert niceness(pid) == 0
    finally:
        os.kill(pid, signal.SIGKILL)
        exit_of(server, pid)


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_a_malformed_handoff_is_refused_and_the_server_goes_on(data_dir, servers, tmp_path):
    server = make_server(data_dir, servers)
    assert server._channel is not None
    with open(os.devnull, "rb") as null:
        socket.send_fds(server._channel, [b'{"argv": "not a list"}'], [null.fileno()])
    answer = server._answers.get(timeout=30)
    assert answer is not None and "argv must be a list" in str(answer["refused"])
    assert check_broker(server, tmp_path, NOWHERE)[0] == 1


def test_a_dead_server_is_restarted_by_the_next_handoff(data_dir, servers, tmp_path):
    server = make_server(data_dir, servers)
    first = server._popen
    assert first is not None
    first.kill()
    first.wait(10)
    assert check_broker(server, tmp_path, NOWHERE)[0] == 1
    assert server._popen is not first and server.running()


def test_a_closed_server_exits_once_its_workers_have(data_dir, servers, tmp_path):
    server = make_server(data_dir, servers)
    workspace = tmp_path / new_record_id()
    workspace.mkdir()
    env = {**host_env(os.environ), "CYCLONE_AMQP_URI": NOWHERE}
    with open(tmp_path / "w.log", "ab") as out:
        pid = server.hand(Handoff(["--record-id", workspace.name], str(workspace), env), out)
    assert pid is not None
    popen = server._popen
    assert popen is not None
    server.close()
    # still reaping its worker, which runs on
    holds_for(lambda: popen.poll() is None and pid_alive(pid), 1, "the server and its worker")
    os.kill(pid, signal.SIGKILL)
    assert popen.wait(30) == 0
    with open(tmp_path / "w.log", "ab") as out:
        assert server.hand(Handoff(["--check"], str(tmp_path), env), out) is None  # closed


def test_a_server_on_a_non_blocking_channel_waits(data_dir, tmp_path):
    """The cloud service's sockets are eventlet's, non-blocking: the server still waits."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setblocking(False)
    env = host_env(service_env(data_dir, NOWHERE))
    with open(tmp_path / "server.log", "ab") as out:
        popen = subprocess.Popen(
            [*DEFAULT_COMMAND, FORK_SERVER_FLAG], env=env, stdin=theirs, stdout=out, stderr=out
        )
    theirs.close()
    try:
        # Imported and waiting by then (a failed read would end it within a second).
        holds_for(lambda: popen.poll() is None, 3, "the server waiting")
        handoff = Handoff(["--check"], str(tmp_path), {"CYCLONE_AMQP_URI": NOWHERE})
        with open(tmp_path / "log", "ab") as log:
            socket.send_fds(ours, [handoff.encode()], [log.fileno()])
        answers = [json.loads(ours.recv(4096)) for _ in range(2)]
        assert "started" in answers[0] and answers[1]["code"] == 1, answers
    finally:
        ours.close()
        popen.wait(30)


def forking_driver(
    data_dir: Path, amqp_uri: str, servers: list[ForkServer]
) -> tuple[LocalDriver, ForkServer]:
    """A Local driver of the service's environment whose workers a fork server forks."""
    server = make_server(data_dir, servers)
    env = service_env(data_dir, amqp_uri)
    context = DriverContext(data_dir, amqp_uri, environ=env, fork_server=server)
    return LocalDriver("local", context, build_user=""), server


def test_a_local_driver_runs_records_forked_and_a_restart_adopts_them(data_dir, amqp_uri, servers):
    driver, server = forking_driver(data_dir, amqp_uri, servers)
    record_id = new_record_id()
    # No scheduler answers on this vhost: the worker keeps asking for its job meanwhile.
    driver.start(record_id, "proj", "pipe", {})
    handle = driver.handle(record_id)
    pid = int(handle["pid"])
    assert pid == handle["pgid"] and pid != server._popen.pid
    assert is_worker_process(pid, record_id)
    log = data_dir / "workspaces" / f"{record_id}.worker.log"
    assert f"forked by the fork server: pid {pid}" in log.read_text()
    # The driver hears its end, with its exit status, from the server.
    os.kill(pid, signal.SIGKILL)
    reports = wait_for(lambda: driver.poll(), 10, "the exit report")
    assert [(r.record_id, r.exit_code) for r in reports] == [(record_id, -signal.SIGKILL)]
    # A worker forked before a restart of the service is adopted by its workspace.
    other = new_record_id()
    driver.start(other, "proj", "pipe", {})
    saved = SavedWorker(other, "proj", "pipe", datetime.now(UTC), driver.handle(other), "local")
    env = service_env(data_dir, amqp_uri)
    after = LocalDriver("local", DriverContext(data_dir, amqp_uri, environ=env), build_user="")
    after.adopt([saved])
    assert [w["recordID"] for w in after.list()] == [other]
    assert after.stop(other)
    (report,) = wait_for(lambda: after.poll(), 10, "the adopted worker's end")
    assert report.record_id == other


def test_a_local_driver_hands_a_forked_worker_its_job(data_dir, amqp_uri, servers, git_repo):
    """No scheduler answers on this vhost: the record runs to Success only if its worker was
    handed its job (one that asks would wait for it, then fail)."""
    driver, _ = forking_driver(data_dir, amqp_uri, servers)
    record_id = new_record_id()
    job = {**make_job(git_repo.url, package=["echo packaged"]), "record_id": record_id}
    driver.start(record_id, "proj", "pipe", {}, job=job)  # type: ignore[arg-type]
    pid = int(driver.handle(record_id)["pid"])
    (report,) = wait_for(lambda: driver.poll(), 30, "the worker's end")
    log = (data_dir / "workspaces" / f"{record_id}.worker.log").read_text()
    assert report.exit_code == 0, log
    assert f"forked by the fork server: pid {pid}, its job handed" in log
    assert f"running {record_id} (job handed with its launch)" in log
    assert "packaged" not in log  # the build's output goes to the bus, not the worker's log


@pytest.mark.parametrize(("taken_up_after", "noted"), [(1.0, "its job handed"), (10.0, "it asks")])
def test_the_supervisor_hands_on_only_a_fresh_job(
    data_dir, amqp_uri, mongo_url, servers, git_repo, taken_up_after, noted
):
    """A start taken up 10 s after the scheduler sent its job (which gives a start up after
    8 s) leaves its worker to ask for its job, which an ended record is refused; a start taken
    up within the moment a start takes hands it on."""
    driver, _ = forking_driver(data_dir, amqp_uri, servers)
    sent = time.time()
    record_id = new_record_id()
    job = {**make_job(git_repo.url, package=["true"]), "record_id": record_id}
    with MongoClient(mongo_url) as client:
        store = WorkerStore(client.get_default_database())
        supervisor = Supervisor([driver], store, "test-host", wall=lambda: sent + taken_up_after)
        supervisor.start(record_id, "proj", "pipe", {}, {"job": job, "sent": sent})  # type: ignore[typeddict-item]
        log = data_dir / "workspaces" / f"{record_id}.worker.log"
        assert (
            f"forked by the fork server: pid {driver.handle(record_id)['pid']}, {noted}"
            in log.read_text()
        )
        driver.stop(record_id)  # one that asks waits for a scheduler this vhost does not have


def test_the_server_loads_a_docker_clouds_executor_for_its_first_docker_record_only():
    """What a hand-off's cloud type needs is imported in the server before it forks (once):
    a Local hand-off loads nothing more, a Docker one the executor and the docker SDK."""
    local = WorkerLaunch(cloud_type="Local", record_id=new_record_id()).to_env()
    on_docker = WorkerLaunch(
        cloud_type="Docker", record_id=new_record_id(), docker={"host": "unix:///nowhere.sock"}
    ).to_env()
    script = (
        "import json, sys\n"
        "from services.worker import forkserver\n"
        "from shared.contracts.launch import Handoff\n"
        "seen = []\n"
        "for env in json.loads(sys.argv[1]):\n"
        "    forkserver.prepare_for(Handoff([], '/', env))\n"
        "    mods = sys.modules\n"
        "    seen.append(['services.worker.executors.docker' in mods, 'docker' in mods])\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps([local, on_docker])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [[False, False], [True, True]]
