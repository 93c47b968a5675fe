"""`make run`'s default layout: the four nameko services in one process (`python -m
services`), Local records forked by the fork server. The other test stacks run a process
per service (tests/support.py), so that fault tests can kill one."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.contracts import services
from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.support import StackProcess, pid_alive
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def together_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    stack = StackProcess(
        tmp_path_factory.mktemp("together") / "data",
        CYCLONE_ONE_PROCESS="on",
    )
    stack.start()
    yield stack
    stack.retire()


@pytest.fixture(scope="module")
def runs(together_stack: StackProcess) -> Iterator[Runs]:
    with together_stack.client() as api:
        resp = api.post("/api/v1/projects", json=project_body("together"))
        assert resp.status_code == 201, resp.text
        yield Runs(api, "together")


def fork_servers(data_dir: Path) -> list[int]:
    """The pids of this stack's fork servers (`--fork-server` on their command line)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"--fork-server" in argv and str(data_dir).encode() in environ:
            found.append(int(entry.name))
    return found


def test_the_services_share_one_process_and_answer(together_stack: StackProcess):
    pids = together_stack.pids()
    assert {pids[name] for name in services.RESIDENT} == {pids[services.RESIDENT[0]]}
    assert pids[services.API] != pids[services.SCHEDULER]
    health = httpx.get(together_stack.url + "/healthz", timeout=10)
    assert health.status_code == 200, health.text


def test_records_run_on_forked_workers_with_their_logs(
    together_stack: StackProcess, runs: Runs, git_repo
):
    (server,) = wait_for(lambda: fork_servers(together_stack.data_dir), 30, "the fork server")
    runs.pipeline(pipeline_body("warm", git_repo.url, package=["echo warm-build-ran"]))
    record = runs.run("warm")
    assert record["status"] == "Success", record
    log = runs.log_through("warm", record["id"], "Stage: Package status: finish")
    assert "\nwarm-build-ran" in log or log.startswith("warm-build-ran"), log
    # Its worker was forked by the server (the cloud's note in its own log), and handed the
    # job the scheduler sent with its start (the worker's note).
    worker_log = Path(together_stack.env["CYCLONE_WORKSPACES"]) / f"{record['id']}.worker.log"
    text = worker_log.read_text()
    assert "forked by the fork server: pid" in text and ", its job handed" in text, text
    assert f"running {record['id']} (job handed with its launch)" in text, text
    assert fork_servers(together_stack.data_dir) == [server]  # one server for every record


def test_a_crashed_services_process_is_restarted_and_runs_records(
    together_stack: StackProcess, runs: Runs, git_repo
):
    old = together_stack.pids()[services.SCHEDULER]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old), 10, "the old process gone")
    wait_for(
        lambda: together_stack.pids().get(services.SCHEDULER) not in (None, old),
        30,
        "a new process",
    )
    wait_for(
        lambda: httpx.get(together_stack.url + "/healthz", timeout=10).status_code == 200,
        60,
        "healthy",
    )
    runs.pipeline(pipeline_body("after-crash", git_repo.url, package=["true"]))
    assert runs.run("after-crash")["status"] == "Success"
