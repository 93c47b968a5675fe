"""Stage commands exec'd in a pod's builder container (services/worker/executors/kubernetes.py),
against the fake Kubernetes API server's exec endpoint (a real websocket with the channel
protocol)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from services.worker.executors import kubernetes as podexec
from tests.cloud.fakekube import FakeKube

NS = "ci"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "cyclone-worker-x"},
    "spec": {
        "containers": [
            {"name": "worker", "image": "cyclone-worker"},
            {"name": "builder", "image": "golang:1.23"},
        ]
    },
}


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add("pods", NS, POD)
        yield server


@pytest.fixture
def executor(fake, tmp_path) -> podexec.PodExecutor:
    (tmp_path / "code").mkdir()
    env = {
        podexec.API_URL_ENV: fake.url,
        podexec.POD_ENV: "cyclone-worker-x",
        podexec.NAMESPACE_ENV: NS,
        podexec.CONTAINER_ENV: "builder",
    }
    return podexec.PodExecutor.from_env(tmp_path, env)


def test_commands_run_in_the_builder_with_their_env_off_the_command_line(fake, executor, tmp_path):
    lines: list[str] = []
    secret = "s3cr'et $HOME"
    outcome = executor.run(
        ["sh", "-c", 'echo out; echo err >&2; echo "token=$TOKEN"; pwd; exit 3'],
        env={"TOKEN": secret},
        log=lines.append,
        abort=threading.Event(),
    )
    assert (outcome.code, outcome.aborted, outcome.ok) == (3, False, False)
    assert sorted(lines) == sorted(["out", "err", f"token={secret}", str(tmp_path / "code")])
    assert outcome.tail[-1] in lines
    (done,) = fake.execs
    assert (done["pod"], done["container"]) == ("cyclone-worker-x", "builder")
    assert secret not in " ".join(done["command"])  # only the env file's name travels
    assert list((tmp_path / ".cyclone").iterdir()) == []  # the env file is gone


def test_success_and_long_output(executor):
    lines: list[str] = []
    outcome = executor.run(
        ["sh", "-c", "seq 1 3000; printf 'no newline at the end'"],
        env={},
        log=lines.append,
        abort=threading.Event(),
    )
    assert outcome.ok
    assert lines[:3] == ["1", "2", "3"] and lines[2999] == "3000"
    assert lines[-1] == "no newline at the end" and len(lines) == 3001


def test_abort_returns_at_once(executor):
    abort = threading.Event()
    threading.Timer(0.3, abort.set).start()
    started = time.monotonic()
    outcome = executor.run(["sleep", "30"], env={}, log=lambda _: None, abort=abort)
    assert outcome.aborted and time.monotonic() - started < 5


def test_an_unreachable_builder_fails_the_command_clearly(fake, tmp_path):
    lines: list[str] = []
    gone = podexec.PodExecutor(
        tmp_path, podexec.api_from_env({podexec.API_URL_ENV: fake.url}), NS, "nope", "builder"
    )
    outcome = gone.run(["true"], env={}, log=lines.append, abort=threading.Event())
    assert outcome.code == 127 and not outcome.ok
    assert lines[0].startswith("cannot exec in the builder container: ")
    assert lines[0].endswith('404 Not Found: pods "nope" not found'), lines[0]


def test_outside_a_pod_the_executor_says_so(tmp_path):
    with pytest.raises(podexec.PodError, match="CYCLONE_POD_NAME, CYCLONE_POD_NAMESPACE not set"):
        podexec.PodExecutor.from_env(tmp_path, {})


def test_command_env_is_the_build_env_only(executor):
    # the builder keeps its image's PATH and HOME: nothing of the worker's is added
    assert executor.command_env({"GOFLAGS": "-mod=vendor", "CI": "true"}) == {
        "GOFLAGS": "-mod=vendor",
        "CI": "true",
    }
