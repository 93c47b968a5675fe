"""The API token never reaches a log file of the stack, even when a client puts it in a URL
(the log WebSocket's `?token=`, a GET with `?token=`), with the access log on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websocket

from services.api.redact import redact
from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.repos import make_git_repo
from tests.support import StackProcess
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def logged_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("logged") / "data"
    proc = StackProcess(data, CYCLONE_ACCESS_LOG="on").start()  # access lines in the stack log
    yield proc
    proc.retire()


def every_log(stack: StackProcess) -> str:
    files = [stack.log_path, *stack.data_dir.rglob("*.log")]
    return "".join(Path(f).read_text(errors="replace") for f in files if Path(f).is_file())


def test_redact_masks_query_credentials():
    assert redact('GET /x?token=abc&stage=p HTTP/1.1"') == 'GET /x?token=******&stage=p HTTP/1.1"'
    assert redact("/ws?a=1&ticket=t-1") == "/ws?a=1&ticket=******"
    assert redact("/ws?access_token=x y") == "/ws?access_token=****** y"
    assert redact("no secret here") == "no secret here"


def finished_run(stack: StackProcess, name: str, tmp_path: Path, echo: str) -> str:
    """A finished record's log stream URL (no credential in it yet)."""
    repo = make_git_repo(tmp_path)
    with stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(name)).status_code == 201
        runs = Runs(api, name)
        runs.pipeline(pipeline_body("p", repo.url, package=[f"echo {echo}"]))
        rec = runs.run("p")
        assert rec["status"] == "Success", rec
    return stack.url.replace("http://", "ws://") + runs.url("p", rec["id"], "/logstream")


def frames_of(url: str) -> list[str]:
    ws = websocket.create_connection(url, timeout=30)
    frames = []
    try:
        while frame := ws.recv():
            frames.append(frame)
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        ws.close()
    return frames


def test_a_token_in_a_url_is_not_logged(logged_stack: StackProcess, unique, tmp_path):
    stream = finished_run(logged_stack, unique, tmp_path, "hello")
    assert "hello" in frames_of(f"{stream}?token={logged_stack.token}")
    plain = httpx.get(f"{logged_stack.url}/api/v1/projects?token={logged_stack.token}")
    assert plain.status_code == 401  # a query token is for WebSockets only
    # the access log has a request once it was answered: wait for both lines, then look
    for line in ("logstream?token=******", "projects?token=******"):
        wait_for(lambda line=line: line in every_log(logged_stack), 10, f"the access line {line}")
    assert logged_stack.token not in every_log(logged_stack)


def test_a_ticket_opens_one_log_stream_once(logged_stack: StackProcess, unique, tmp_path):
    stream = finished_run(logged_stack, unique, tmp_path, "from a ticket")
    with logged_stack.client() as api:
        got = api.post("/api/v1/tickets")
    assert got.status_code == 201, got.text
    assert got.json()["expiresIn"] == 60 and got.headers["cache-control"] == "no-store"
    ticket = got.json()["ticket"]
    assert httpx.post(f"{logged_stack.url}/api/v1/tickets").status_code == 401  # token needed
    assert "from a ticket" in frames_of(f"{stream}?ticket={ticket}")
    for used_or_forged in (ticket, "not-a-ticket"):
        with pytest.raises(websocket.WebSocketBadStatusException) as err:
            websocket.create_connection(f"{stream}?ticket={used_or_forged}", timeout=10)
        assert err.value.status_code == 401
    wait_for(lambda: "logstream?ticket=******" in every_log(logged_stack), 10, "the access line")
    assert ticket not in every_log(logged_stack)
