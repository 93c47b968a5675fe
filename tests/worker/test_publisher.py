"""Log lines, events and heartbeats on the real RabbitMQ (a vhost of our own)."""

from __future__ import annotations

import re
import subprocess
import threading
import time

from services.worker.publisher import BATCH_LINES, BusSink, Heartbeat, LogPublisher
from services.worker.runtime import Runner
from shared import workertoken
from tests.netcut import CutProxy
from tests.repos import GitRepo
from tests.waiting import wait_for
from tests.worker.conftest import Bus, check_stream, make_job, new_record_id

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_ten_thousand_lines_arrive_numbered_batched_and_ended(bus: Bus):
    record_id = new_record_id()
    publisher = LogPublisher(bus.uri, record_id)
    for i in range(4000):
        publisher.line("unitTest", f"unit {i}")
    writer = threading.Thread(
        target=lambda: [publisher.line("package", f"pkg {i}") for i in range(6000)]
    )
    writer.start()  # lines from another thread, as command output comes
    writer.join()
    assert publisher.end("package") == 10000
    batches = bus.batches(record_id)
    lines = check_stream(batches, record_id)
    assert lines == [("unitTest", f"unit {i}") for i in range(4000)] + [
        ("package", f"pkg {i}") for i in range(6000)
    ]
    assert batches[-1]["stage"] == "package"
    assert len(batches) <= 10000 // BATCH_LINES + 5  # batched: about 10 messages, not 10,000
    assert max(len(b["lines"]) for b in batches) == BATCH_LINES
    assert publisher.messages == len(batches)


def test_the_end_of_the_log_rides_on_its_last_lines_or_goes_alone(bus: Bus):
    """Lines still pending at the end go in one message with the end (a message fewer per
    record); a log flushed before its end ends with a marker on no lines after the last."""

    def sent(record_id: str) -> list[tuple[int, list[str], bool]]:
        return [(b["seq"], b["lines"], b.get("eof", False)) for b in bus.batches(record_id)]

    riding = new_record_id()
    publisher = LogPublisher(bus.uri, riding, batch_delay=60)  # no timer flush meanwhile
    publisher.line("package", "a")
    publisher.line("package", "b")
    assert publisher.end("package") == 2
    assert publisher.messages == 1
    assert sent(riding) == [(1, ["a", "b"], True)]

    alone = new_record_id()
    publisher = LogPublisher(bus.uri, alone)
    publisher.line("package", "a")
    publisher.flush()
    assert publisher.end("package") == 1
    assert sent(alone) == [(1, ["a"], False), (2, [], True)]


def test_big_lines_go_in_batches_of_bounded_size(bus: Bus):
    """1,000 lines of 4 MiB would make a 4 GiB message, past the broker's limit: a batch
    holds at most BATCH_CHARS characters, or one longer line alone."""
    record_id = new_record_id()
    publisher = LogPublisher(bus.uri, record_id, batch_chars=100_000)
    sent = [f"{i:04d}" + "x" * 30_000 for i in range(20)] + ["y" * 250_000, "short"]
    for line in sent:
        publisher.line("package", line)
    assert publisher.end("package") == len(sent)
    batches = bus.batches(record_id)
    assert [line for _, line in check_stream(batches, record_id)] == sent
    for batch in batches[:-1]:
        size = sum(len(line) for line in batch["lines"])
        assert size <= 100_000 or len(batch["lines"]) == 1, (size, len(batch["lines"]))
    assert len(batches) >= 8  # not one message of 850,000 characters


def test_a_lone_line_is_sent_after_the_batch_delay_without_a_flush(bus: Bus):
    record_id = new_record_id()
    publisher = LogPublisher(bus.uri, record_id, token="tok")
    publisher.line("codeCheckout", "alone")
    # No flush, no more lines, no end: only the batch timer can have sent it.
    first = bus.first_batch(record_id)
    assert first == {
        "record_id": record_id,
        "seq": 1,
        "stage": "codeCheckout",
        "lines": ["alone"],
        "worker_mac": workertoken.batch_mac("tok", first),
    }
    # Counted once the broker confirmed it, which may be a moment after it is on the queue.
    wait_for(lambda: publisher.messages == 1, 10, "the publisher to count its one message")
    assert publisher.end("codeCheckout") == 1


def test_a_run_on_the_bus_masks_numbers_and_reports_in_order(
    bus: Bus, git_repo: GitRepo, workspace
):
    record_id = new_record_id()
    job = make_job(
        git_repo.url,
        package=["seq 1 10000", 'echo "token is $TOKEN"'],
        package_extra={"outputs": ["version.txt"]},
        env=[{"name": "TOKEN", "value": "s3cret-value", "secret": True}],
        scm={"type": "Github", "token": "scm-token-123"},
    )
    job["record_id"] = record_id
    status = Runner(job, BusSink(bus.uri, record_id), workspace, threading.Event()).run()
    assert status == "Success"

    batches = bus.batches(record_id)
    lines = check_stream(batches, record_id)
    texts = [t for _, t in lines]
    assert "token is ******" in texts and "s3cret-value" not in repr(batches)
    package = [t for s, t in lines if s == "package"]
    assert package[:2] == ["Stage: Package status: start", "$ seq 1 10000"]
    assert package[2:10002] == [str(i) for i in range(1, 10001)]
    assert package[-1] == "Stage: Package status: finish"
    assert len(batches) < 100

    events = bus.events(record_id)
    assert [(kind, p.get("stage")) for kind, p in events] == [
        ("stage_started", "codeCheckout"),
        ("stage_finished", "codeCheckout"),
        ("stage_started", "package"),
        ("stage_finished", "package"),
        ("run_finished", None),
    ]
    checkout = events[1][1]
    assert checkout["details"]["commits"]["mainRepo"]["ID"] == git_repo.main_sha
    assert checkout["record_name"].startswith(git_repo.main_sha[:7])
    assert events[3][1]["details"] == {"outputs": ["version.txt"]}
    finished = events[-1][1]
    assert finished["status"] == "Success" and finished["log_lines"] == len(lines)
    assert all(TIME_RE.fullmatch(p["time"]) for _, p in events)


def test_heartbeats_are_sent_until_stopped(bus: Bus):
    record_id = new_record_id()
    beat = Heartbeat(bus.uri, record_id, interval=0.1).start()
    first = bus.events(record_id, until="heartbeat")
    assert first[0][1]["record_id"] == record_id and TIME_RE.fullmatch(first[0][1]["time"])
    wait_for(lambda: beat.sent >= 3, 10, "three heartbeats")
    beat.stop()
    beat._thread.join(10)  # a beat under way when stop() came still goes out
    assert not beat._thread.is_alive(), "the heartbeat thread did not stop"
    # Every beat counted is on the bus, and no more: confirmed publishes are queued by now.
    assert len(first) + len(bus.queued_events(record_id)) == beat.sent


def test_a_worker_whose_job_came_beats_only_an_interval_later(bus: Bus):
    """Once its job came, the worker's first stage report is its first beat (the scheduler's
    store): no beat, and no connection for beats, until an interval after; a job that is
    late starts them."""
    record_id, came = new_record_id(), threading.Event()
    beat = Heartbeat(bus.uri, record_id, interval=1.5, quiet_until=came, late=0.5).start()
    came.set()
    time.sleep(1.0)
    assert beat.sent == 0 and bus.queued_events(record_id) == []
    wait_for(lambda: beat.sent >= 1, 5, "the first beat, an interval after the job")
    beat.stop()
    late_id = new_record_id()
    started = time.monotonic()
    late = Heartbeat(bus.uri, late_id, interval=30, quiet_until=threading.Event(), late=0.3)
    late.start()
    try:
        bus.events(late_id, until="heartbeat")
    finally:
        late.stop()
    assert time.monotonic() - started < 5  # not an interval (30 s): the job is late


def test_every_batch_and_event_carries_the_worker_token(bus: Bus, workspace, git_repo: GitRepo):
    record_id = new_record_id()
    job = make_job(git_repo.url, stages=["codeCheckout"])
    job["record_id"] = record_id
    sink = BusSink(bus.uri, record_id, token="the-token")
    assert Runner(job, sink, workspace, threading.Event()).run() == "Success"
    batches = bus.batches(record_id)
    events = bus.events(record_id)
    assert batches and all(
        b["worker_mac"] == workertoken.batch_mac("the-token", b) for b in batches
    )
    assert "the-token" not in repr(batches)  # a batch's reader learns nothing to forge others
    assert events and all(p["worker_token"] == "the-token" for _, p in events)
    beat = Heartbeat(bus.uri, record_id, interval=0.05, token="the-token").start()
    try:
        kind, payload = bus.events(record_id, until="heartbeat")[-1]
    finally:
        beat.stop()
    assert kind == "heartbeat" and payload["worker_token"] == "the-token"


def _port_of(publisher: LogPublisher) -> int | None:
    """The local port of the publisher's connection; None while it has none (reconnecting).
    Read without connecting (kombu's `connection` would connect, from this thread)."""
    conn = publisher._conn
    if publisher.messages == 0 or not conn.connected:
        return None
    try:
        return int(conn.connection.sock.getsockname()[1])
    except (AttributeError, OSError):
        return None


def _close_connection_on(port: int) -> None:
    """Close the broker connection from that local port from the broker's side, as a node
    restart or a network cut does."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "peer_port", "--no-table-headers", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    (pid,) = [line.split()[0] for line in listed if line.split()[1:] == [str(port)]]
    subprocess.run(
        ["rabbitmqctl", "close_connection", pid, "test"], check=True, capture_output=True
    )


def test_lines_in_flight_when_the_connection_breaks_are_sent_again_in_order(bus: Bus):
    """Confirms are pipelined (WINDOW batches in flight): the batches the broker had not
    confirmed when the connection broke go again, in order, on a new connection. Copies
    may reach the queue (the logs service keeps one, by first line number); no line is
    lost and none is out of order."""
    record_id = new_record_id()
    publisher = LogPublisher(bus.uri, record_id)
    sent: list[str] = []
    cutting = threading.Event()
    cutting.set()

    def write() -> None:  # output goes on until both cuts are done and recovered from
        while cutting.is_set() or len(sent) < 20_000:
            line = f"line {len(sent)}"
            publisher.line("package", line)
            sent.append(line)
            if len(sent) % 500 == 0:
                time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()

    def new_port(cut: int | None) -> int | None:
        port = _port_of(publisher)
        return port if port != cut else None

    cut: int | None = None
    for n in (1, 2):
        # the connection the publisher uses now (a new one after the first cut)
        cut = wait_for(lambda: new_port(cut), 20, "a connection")  # noqa: B023 - waited for now
        time.sleep(0.2)  # batches in flight on it
        _close_connection_on(cut)
        wait_for(lambda: publisher.recoveries >= n, 20, f"the recovery from cut {n}")  # noqa: B023
    cutting.clear()
    writer.join(60)
    assert publisher.end("package") == len(sent)
    assert publisher.recoveries >= 2, "the connection was not broken under the publisher"
    batches = bus.batches(record_id, timeout=30)
    first: dict[int, dict] = {}
    for batch in batches:  # one copy of each (the logs service stores the first)
        kept = first.setdefault(batch["seq"], batch)
        assert kept == batch, "a copy differs from its batch"
    ordered = [first[seq] for seq in sorted(first)]
    assert [line for _, line in check_stream(ordered, record_id)] == sent


def test_lines_sent_on_a_connection_gone_silent_go_again_on_a_new_one(
    bus: Bus, cut_proxy: tuple[CutProxy, str]
):
    """The connection stays open but nothing comes back (a peer lost without a word): the
    batches the broker never confirmed go again on a new connection once the confirm
    timeout has passed, instead of the worker waiting for ever at the stage's end."""
    proxy, uri = cut_proxy
    record_id = new_record_id()
    lines = LogPublisher(uri, record_id, confirm_timeout=1.0)
    sent = [f"line {n}" for n in range(200)]
    for line in sent[:100]:
        lines.line("package", line)
    lines.flush()
    proxy.stall()
    for line in sent[100:]:
        lines.line("package", line)
    began = time.monotonic()
    assert lines.end("package") == len(sent)
    assert 1.0 <= time.monotonic() - began < 15  # the 1 s timeout, not the default 30 s
    assert lines.recoveries >= 1
    first: dict[int, dict] = {}
    for batch in bus.batches(record_id, timeout=30):  # copies allowed, each the same
        assert first.setdefault(batch["seq"], batch) == batch
    ordered = [first[seq] for seq in sorted(first)]
    assert [line for _, line in check_stream(ordered, record_id)] == sent
