"""The run contract: stacks side by side, generated secrets, Ctrl-C stops everything, /healthz
turns 503 when a part stops answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.api.resources.meta import HEALTH_MAX_AGE
from shared.contracts import services
from tests.api import bodies
from tests.support import ROOT, StackProcess, pid_alive
from tests.waiting import holds_for, wait_for


def healthy(stack: StackProcess) -> bool:
    """For wait_for: /healthz answers 200 (a slow or refused answer: not yet)."""
    try:
        return httpx.get(stack.url + "/healthz", timeout=10).status_code == 200
    except httpx.TransportError:
        return False


def settled_healthy(stack: StackProcess) -> None:
    """Healthy on every ask for longer than a verdict is kept (HEALTH_MAX_AGE): no gateway
    process (each keeps its own) still serves a verdict from before."""
    wait_for(
        lambda: holds_for(lambda: healthy(stack), HEALTH_MAX_AGE + 0.5, "healthy"),
        60,
        "every gateway process to say healthy",
    )


@pytest.mark.stack
@pytest.mark.timeout(240)
def test_two_stacks_side_by_side_and_sigint_stops_all(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "CYCLONE_API_TOKEN"}
    a = StackProcess(tmp_path / "a")
    b = StackProcess(tmp_path / "b")
    b.env = {**env, **{k: v for k, v in b.env.items() if k != "CYCLONE_API_TOKEN"}}
    try:
        with ThreadPoolExecutor(2) as pool:  # side by side from their start, and sooner
            list(pool.map(StackProcess.start, (a, b)))
        # b generated its token into its data dir and printed it.
        b.token = (b.data_dir / "api-token").read_text().strip()
        assert len(b.token) >= 32 and b.token in b.log_path.read_text()
        assert (b.data_dir / "secret-key").stat().st_mode & 0o077 == 0
        with a.client() as ca, b.client() as cb:
            assert ca.post("/api/v1/projects", json=bodies.project("only-in-a")).status_code == 201
            assert cb.get("/api/v1/projects/only-in-a").status_code == 404
            # start() saw one gateway process healthy; another may still serve its verdict
            # from before every service was up (each keeps one for HEALTH_MAX_AGE).
            settled_healthy(a)
            settled_healthy(b)
            assert cb.get("/api/v1/projects").status_code == 200
            assert (
                httpx.get(
                    b.url + "/api/v1/projects", headers={"Authorization": f"Bearer {a.token}"}
                ).status_code
                == 401
            )
        pids = a.pids()
        assert set(pids) == {*services.RESIDENT, services.API, "mongo"}
        assert a.stop() == 0
        wait_for(lambda: not any(pid_alive(p) for p in pids.values()), 20)
        wait_for(lambda: healthy(b), 30, "b to be healthy")  # b is untouched
    finally:
        a.stop()
        b.stop()
    # A restart on the same data dir reuses the generated token and keeps the data.
    again = StackProcess(tmp_path / "b")
    again.env.pop("CYCLONE_API_TOKEN")
    try:
        again.start()
        assert (again.data_dir / "api-token").read_text().strip() == b.token
        with again.client(b.token) as c:
            assert c.get("/api/v1/projects").status_code == 200
    finally:
        again.stop()


def answers_as(stack: StackProcess, name: str, pid: int) -> bool:
    """For wait_for: the service `name` of the stack answers its ping from process `pid`."""
    with ClusterRpcProxy({"AMQP_URI": stack.amqp_uri, "serializer": "json"}, timeout=2) as rpc:
        try:
            return getattr(rpc, name).ping()["pid"] == pid
        except (UnknownService, RpcTimeout):  # not up (again) yet
            return False


@pytest.mark.timeout(180)
def test_healthz_503_names_the_part_that_stops_answering(stack: StackProcess):
    settled_healthy(stack)  # whatever ran before, e.g. a service restarted
    pid = stack.pids()["scheduler"]
    os.kill(pid, signal.SIGSTOP)
    try:
        took: list[float] = []

        def verdict() -> httpx.Response | None:
            began = time.monotonic()
            resp = httpx.get(stack.url + "/healthz", timeout=10)
            took.append(time.monotonic() - began)
            return resp if "scheduler" in resp.json().get("failing", []) else None

        # A verdict is served again for a moment (HEALTH_MAX_AGE): a later one names it.
        resp = wait_for(verdict, 15, "/healthz to name the scheduler")
        assert max(took) < 4, took
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "unavailable" and body["failing"] == ["scheduler"]
        assert body["checks"]["scheduler"].startswith("no answer within 2s")
        assert body["checks"]["mongo"] == "ok"
    finally:
        os.kill(pid, signal.SIGCONT)
    settled_healthy(stack)  # the next test starts from fresh verdicts


@pytest.mark.timeout(180)
def test_a_crashed_service_is_restarted_by_the_launcher(stack: StackProcess):
    old = stack.pids()["logs"]
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (pid := stack.pids()["logs"]) != old and pid, 10, "a new logs pid")
    # The new process answers (not a verdict of /healthz from before the crash), then the stack
    # is healthy again.
    wait_for(lambda: answers_as(stack, "logs", new), 60, "the restarted logs service to answer")
    settled_healthy(stack)


@pytest.mark.timeout(120)
def test_each_service_runs_on_its_own(
    tmp_path: Path, stack: StackProcess, unique: str, amqp_uri: str
):
    """`python -m services.<name>` alone, against a vhost and a database of its own."""
    uri = amqp_uri
    url = urlsplit((stack.data_dir / "mongo-url").read_text().strip())
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CYCLONE_AMQP_URI": uri,
        "CYCLONE_MONGO_URL": urlunsplit(url._replace(path=f"/solo{unique}")),
        "CYCLONE_DATA_DIR": str(tmp_path),
    }
    logs = {name: tmp_path / f"{name}.log" for name in services.RESIDENT}
    procs = {}
    for name in services.RESIDENT:
        with open(logs[name], "wb") as log:  # a file: a pipe nobody reads can fill and block
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
    try:
        with ClusterRpcProxy({"AMQP_URI": uri, "serializer": "json"}, timeout=5) as rpc:
            for name, proc in procs.items():

                def pong(name: str = name) -> dict | None:
                    try:
                        return getattr(rpc, name).ping()
                    except (UnknownService, RpcTimeout):  # not up yet
                        return None

                reply = wait_for(pong, 30, f"{name} to answer its ping")
                assert reply == {"service": name, "status": "ok", "pid": proc.pid}
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            assert proc.wait(20) == 0, (name, logs[name].read_text()[-2000:])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()


@pytest.mark.broker
def test_worker_check_reaches_the_broker():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "services.worker", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0 and "broker ok" in ok.stdout
    env["CYCLONE_AMQP_URI"] = "amqp://guest:guest@127.0.0.1:1/"
    bad = subprocess.run(
        [sys.executable, "-m", "services.worker", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and "broker unreachable" in bad.stderr
