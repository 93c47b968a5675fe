"""The logstream WebSocket against the running stack (websocket-client)."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import kombu
import pytest
import websocket

from shared.contracts.logs import LIVE_EXCHANGE
from tests.e2e.conftest import Runs, counted, numbers, pipeline_body
from tests.waiting import wait_for


def ws_url(stack, runs: Runs, pipeline: str, record: str, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    base = stack.url.replace("http://", "ws://") + runs.url(pipeline, record, "/logstream")
    return base + (f"?{query}" if query else "")


def collect(
    url: str, headers: list[str] | None = None, limit: int | None = None, delay: float = 0.0
) -> tuple[list[str], int | None, list[float]]:
    """Every frame until the server closes (or `limit` frames); the close code; arrival times."""
    ws = websocket.create_connection(url, header=headers or [], timeout=60)
    try:
        return receive(ws, limit, delay)
    finally:
        ws.close()


def receive(
    ws: websocket.WebSocket, limit: int | None = None, delay: float = 0.0, until: str = ""
) -> tuple[list[str], int | None, list[float]]:
    """Frames of an open socket until the server closes, `limit` frames or the line `until`."""
    lines, times = [], []
    code = None
    while limit is None or len(lines) < limit:
        # Frame by frame, answering pings and the close ourselves: a slow reader reaches the
        # server's close frame after the server gave up waiting for the reply and closed the
        # socket (its close timeout, 10 s), and websocket-client's own reply would then raise.
        frame = ws.recv_frame()
        opcode, data = frame.opcode, frame.data
        if opcode == websocket.ABNF.OPCODE_PING:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.pong(data)
            continue
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.send_close()
            break
        if opcode == websocket.ABNF.OPCODE_TEXT:
            lines.append(data.decode())
            times.append(time.monotonic())
            if until and lines[-1] == until:
                break
            if delay:
                time.sleep(delay)
    return lines, code, times


def test_follow_a_running_record_then_normal_close(stack, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("live", git_repo.url, package=["sleep 1", counted(2000)]))
    rec = runs.start("live")
    lines, code, _ = collect(
        ws_url(stack, runs, "live", rec["id"]), headers=[f"Authorization: Bearer {stack.token}"]
    )
    assert code == 1000
    assert numbers(lines) == list(range(2000))
    stored = runs.log("live", rec["id"]).text.splitlines()
    assert lines == stored
    # the log's end and the record's end reach the stack separately
    assert runs.wait("live", rec["id"])["status"] == "Success"


def test_replay_after_the_end_with_query_token_and_stage(stack, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("done", git_repo.url, unit=["echo u"], package=["echo p"]))
    rec = runs.run("done")
    # a stage the record does not list yet (its report still on its way) is refused with 404
    runs.settled(
        "done", rec["id"], {"codeCheckout": "Success", "unitTest": "Success", "package": "Success"}
    )
    lines, code, _ = collect(ws_url(stack, runs, "done", rec["id"], token=stack.token))
    assert code == 1000 and lines == runs.log("done", rec["id"]).text.splitlines()
    pkg, code, _ = collect(
        ws_url(stack, runs, "done", rec["id"], token=stack.token, stage="package")
    )
    assert code == 1000
    assert pkg == ["Stage: Package status: start", "$ echo p", "p", "Stage: Package status: finish"]


def test_resume_mid_run_without_gap_or_duplicate(stack, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("resume", git_repo.url, package=[counted(3000, 100, 0.05)]))
    rec = runs.start("resume")
    url = ws_url(stack, runs, "resume", rec["id"], token=stack.token)
    first, _, _ = collect(url, limit=700)
    rest, code, _ = collect(url + f"&from={len(first)}")
    assert code == 1000
    assert first + rest == runs.log("resume", rec["id"]).text.splitlines()
    assert numbers(first + rest) == list(range(3000))


def test_twenty_followers_and_a_slow_one(stack, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("fanout", git_repo.url, package=["sleep 1", counted(1500)]))
    rec = runs.start("fanout")
    url = ws_url(stack, runs, "fanout", rec["id"], token=stack.token)
    results: dict[str, tuple] = {}

    def follow(name: str, delay: float = 0.0) -> None:
        results[name] = collect(url, delay=delay)

    threads = [threading.Thread(target=follow, args=(f"f{i}",)) for i in range(20)]
    threads.append(threading.Thread(target=follow, args=("slow", 0.01)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    expected = runs.log("fanout", rec["id"]).text.splitlines()
    fast_done = []
    for name, (lines, code, times) in results.items():
        assert code == 1000, name
        assert lines == expected, name
        if name != "slow":
            fast_done.append(times[-1])
    slow_done = results["slow"][2][-1]
    # The slow reader (10 ms a line) needs >15 s; the others finish long before it.
    assert max(fast_done) < slow_done - 5


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({}, [], 401),
        ({"token": "wrong"}, [], 401),
        ({"stage": "bogus"}, None, 400),
        ({"batch": "maybe"}, None, 400),
        ({"stage": "imageBuild"}, None, 404),
    ],
)
def test_refused_before_the_upgrade(stack, runs: Runs, git_repo, params, headers, status):
    runs.pipeline(pipeline_body("refuse", git_repo.url, package=["echo x"]))
    rec = runs.run("refuse")
    if headers is None:
        params = {**params, "token": stack.token}
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(
            ws_url(stack, runs, "refuse", rec["id"], **params), header=headers or [], timeout=10
        )
    assert err.value.status_code == status


def test_unknown_record_is_404_before_the_upgrade(stack, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("none", git_repo.url, package=["echo x"]))
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(
            ws_url(stack, runs, "none", "0" * 24, token=stack.token), timeout=10
        )
    assert err.value.status_code == 404


def test_killed_worker_stream_still_closes(stack, runs: Runs, git_repo, drop):
    import os
    import signal

    from tests.support import worker_pid

    marker = drop / "started"
    runs.pipeline(
        pipeline_body("dies", git_repo.url, package=[f"echo go; touch {marker}; sleep 60"])
    )
    rec = runs.start("dies")
    wait_for(marker.exists, 30)
    pid = worker_pid(rec["id"])
    assert pid
    ws = websocket.create_connection(
        ws_url(stack, runs, "dies", rec["id"], token=stack.token), timeout=60
    )
    try:
        # Following the live log once "go" came (the worker sends it before the marker).
        lines, _, _ = receive(ws, until="go")
        assert lines[-1] == "go", lines
        os.kill(pid, signal.SIGKILL)
        rest, code, _ = receive(ws)
    finally:
        ws.close()
    assert code == 1000, rest


def test_idle_stream_is_pinged(stack, runs: Runs, git_repo, drop):
    marker = drop / "started"
    runs.pipeline(pipeline_body("idle", git_repo.url, package=[f"touch {marker}; sleep 20"]))
    rec = runs.start("idle")
    wait_for(marker.exists, 30)
    ws = websocket.create_connection(
        ws_url(stack, runs, "idle", rec["id"], token=stack.token), timeout=10
    )
    try:

        def pinged() -> bool:
            opcode, _ = ws.recv_data(control_frame=True)
            return opcode == websocket.ABNF.OPCODE_PING

        wait_for(pinged, 8, "a ping", every=0)  # the test stack pings every 2 s
    finally:
        ws.close()
        runs.api.patch(runs.url("idle", rec["id"], "/status"), json={"status": "Aborted"})


def test_long_lines_and_binary_junk_survive(stack, runs: Runs, git_repo):
    big = "head -c 1048576 /dev/zero | tr '\\0' x; echo"
    junk = "printf 'bad \\377\\376 bytes\\n'"
    runs.pipeline(pipeline_body("odd", git_repo.url, package=[big, junk]))
    rec = runs.run("odd")
    assert rec["status"] == "Success", rec
    runs.settled("odd", rec["id"], {"codeCheckout": "Success", "package": "Success"})
    lines, code, _ = collect(
        ws_url(stack, runs, "odd", rec["id"], token=stack.token, stage="package")
    )
    assert code == 1000
    assert "x" * 1048576 in lines
    assert "bad \ufffd\ufffd bytes" in lines
    assert lines == runs.log("odd", rec["id"], stage="package").text.splitlines()


def test_secrets_never_reach_stored_or_streamed_logs(stack, runs: Runs, git_repo):
    secret = "s3cr3t-Value-42"
    env = [{"name": "API_KEY", "value": secret, "secret": True}]
    commands = [
        "echo key=$API_KEY",
        'printf \'%s\\n%s\\n\' "${API_KEY%%-*}" "-${API_KEY#*-}"',  # split over two lines
        "echo token scm-secret-token here",  # the project's SCM token
    ]
    runs.pipeline(pipeline_body("secret", git_repo.url, package=commands, env=env))
    rec = runs.start("secret")
    streamed, code, _ = collect(ws_url(stack, runs, "secret", rec["id"], token=stack.token))
    assert code == 1000
    stored = runs.log("secret", rec["id"]).text
    for text in ("\n".join(streamed), stored, "".join(streamed), stored.replace("\n", "")):
        assert secret not in text
        assert "scm-secret-token" not in text
    assert "key=******" in streamed and "token ****** here" in streamed
    assert streamed == stored.splitlines()
    assert runs.wait("secret", rec["id"])["status"] == "Success"


def flat(frames: list[str]) -> list[str]:
    """The lines of batch frames (each a JSON array of one or more lines)."""
    out: list[str] = []
    for frame in frames:
        lines = json.loads(frame)
        assert isinstance(lines, list) and lines and all(isinstance(x, str) for x in lines), frame
        out += lines
    return out


def test_batch_frames_carry_the_same_lines_in_far_fewer_frames(stack, runs: Runs, git_repo):
    """`?batch=true`: a frame per group of lines that arrived together (a JSON array), the
    same lines in the same order; `from` counts lines, so a resume mid-run has no gap and no
    duplicate whatever the frames were."""
    runs.pipeline(pipeline_body("batched", git_repo.url, package=[counted(3000, 100, 0.05)]))
    rec = runs.start("batched")
    url = ws_url(stack, runs, "batched", rec["id"], token=stack.token, batch="true")
    first, _, _ = collect(url, limit=5)
    got = flat(first)
    rest, code, _ = collect(url + f"&from={len(got)}")
    assert code == 1000
    stored = runs.log("batched", rec["id"]).text.splitlines()
    assert got + flat(rest) == stored
    assert numbers(got + flat(rest)) == list(range(3000))
    assert len(first) + len(rest) < len(stored) / 5, "not batched"
    # a big line goes alone in its frame (frames hold at most 1 MiB of lines), JSON-escaped
    odd = ["head -c 1048576 /dev/zero | tr '\\0' x; echo", "printf 'q\"\\\\ \\377\\n'"]
    runs.pipeline(pipeline_body("oddbatch", git_repo.url, package=odd))
    done = runs.run("oddbatch")
    frames, code, _ = collect(
        ws_url(stack, runs, "oddbatch", done["id"], token=stack.token, batch="1", stage="package")
    )
    assert code == 1000
    assert flat(frames) == runs.log("oddbatch", done["id"], stage="package").text.splitlines()
    assert ["x" * 1048576] in [json.loads(f) for f in frames]
    assert 'q"\\ \ufffd' in flat(frames)


def test_a_live_batch_after_a_gap_waits_for_the_batch_before_it(stack, runs: Runs, git_repo):
    """The logs service stores batches concurrently, so a batch can be announced before the
    one ahead of it. The follower holds it until the earlier one comes instead of dropping
    it: these lines are announced but never stored, so only that wait can deliver all of
    them, in order (sending a follower to storage at each reordered batch made 200 followers
    fall 20-49 s behind; bench/logs.py)."""
    runs.pipeline(pipeline_body("reorder", git_repo.url, package=["echo parked", "sleep 30"]))
    rec = runs.start("reorder")
    rid = rec["id"]

    def parked() -> bool:
        resp = runs.log("reorder", rid)
        return resp.status_code == 200 and resp.text.splitlines()[-1:] == ["$ sleep 30"]

    wait_for(parked, 30, "the record sleeping in its package stage")
    ws = websocket.create_connection(
        ws_url(stack, runs, "reorder", rid, token=stack.token), timeout=20
    )
    try:
        replay, _, _ = receive(ws, until="$ sleep 30")
        k = len(replay)

        def batch(seq: int) -> dict[str, object]:
            lines = [f"live {n}" for n in range(seq, seq + 10)]
            return {"record_id": rid, "seq": seq, "stage": "package", "lines": lines}

        exchange = kombu.Exchange(LIVE_EXCHANGE, type="topic", durable=True)
        with kombu.Connection(stack.amqp_uri) as conn:
            producer = conn.Producer(serializer="json")
            for first in (k + 11, k + 1):  # the later batch first
                body = {"record_id": rid, "batches": [batch(first)]}
                producer.publish(body, exchange=exchange, routing_key=rid)
                time.sleep(0.01)
        got, _, _ = receive(ws, limit=20)
        assert got == [f"live {n}" for n in range(k + 1, k + 21)]
    finally:
        ws.close()
        runs.api.patch(runs.url("reorder", rid, "/status"), json={"status": "Aborted"})
