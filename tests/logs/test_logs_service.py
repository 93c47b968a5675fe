"""The logs service as it runs: batches in over RabbitMQ, lines out over RPC, real storage."""

from __future__ import annotations

import contextlib
import random
import signal
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import kombu
import pytest
from nameko.exceptions import RemoteError

from shared import workertoken
from shared.contracts import events, logs, services
from shared.publish import EventDispatcher
from tests.logs.conftest import TOKENS, LogsProcess
from tests.support import MongoProcess, queue_column
from tests.waiting import holds_for, wait_for
from tools import deadletters

pytestmark = pytest.mark.usefixtures("service")


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def batches(
    record_id: str, total: int, size: int, stage: str = "unitTest", width: int = 0
) -> list[dict[str, Any]]:
    """`total` numbered lines in batches of `size`, then the end marker."""
    out: list[dict[str, Any]] = []
    for seq in range(1, total + 1, size):
        last = min(seq + size - 1, total)
        lines = [f"line {i} ".ljust(width, "x") for i in range(seq, last + 1)]
        out.append({"record_id": record_id, "seq": seq, "stage": stage, "lines": lines})
    out.append(eof(record_id, total + 1, stage))
    return out


def eof(record_id: str, seq: int, stage: str = "unitTest") -> dict[str, Any]:
    return {"record_id": record_id, "seq": seq, "stage": stage, "lines": [], "eof": True}


def expected(total: int) -> list[str]:
    return [f"line {i} " for i in range(1, total + 1)]


def follow(rpc: Any, record_id: str, timeout: float = 15, **filters: Any) -> list[str]:
    """Read as a client tailing the log would, until the read says it is complete."""
    got: list[str] = []
    after = 0

    def complete() -> bool:
        nonlocal after
        chunk = rpc.logs.read_log(
            record_id, filters.get("stage"), filters.get("task"), after, 10_000
        )
        if chunk["next"] < after:
            pytest.fail(f"read_log went back from {after} to {chunk['next']}")
        got.extend(chunk["lines"])
        after = chunk["next"]
        assert chunk["complete"], f"{len(got)} lines so far"
        return True

    wait_for(complete, timeout, f"the log of {record_id} to be complete", every=0.02)
    return got


def test_batches_out_of_order_and_twice_are_read_once_in_order(rpc, publish):
    record = new_id()
    sent = batches(record, 100, 7)
    shuffled = sent + sent[::3]  # some twice
    random.Random(1).shuffle(shuffled)
    publish(*shuffled)
    assert follow(rpc, record) == expected(100)
    marker = new_id()
    publish(*sent[:5], *batches(marker, 1, 1))  # redelivered after completion: still no-ops
    follow(rpc, marker)  # queued after them: the service has had them
    holds_for(
        lambda: (
            rpc.logs.read_log(record, None, None, 0, 10_000)
            == {"lines": expected(100), "next": 100, "complete": True}
        ),
        0.5,
        "the log as it was",
    )


def test_stored_batches_are_announced_live_grouped_per_record_each_once(amqp_uri, rpc, publish):
    """What the gateways following a record get (services/logs/live.py): every stored batch,
    once, in LiveBatches of that record alone; a burst goes out in fewer messages than it had
    batches."""
    record, other = new_id(), new_id()
    exchange = kombu.Exchange(logs.LIVE_EXCHANGE, type="topic", durable=True)
    got: list[dict[str, Any]] = []
    with kombu.Connection(amqp_uri) as conn:
        queue = kombu.Queue(f"test-live-{record}", exchange, routing_key=record, exclusive=True)
        with conn.Consumer(queue, callbacks=[lambda body, msg: (got.append(body), msg.ack())]):
            publish(*batches(record, 2000, 10), *batches(other, 50, 10))

            def all_there() -> bool:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.2)
                return sum(len(m["batches"]) for m in got) >= 201

            wait_for(all_there, 30, "every batch of the record announced")
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=0.5)  # nothing more may come
    assert {m["record_id"] for m in got} == {record}
    announced = sorted(b["seq"] for m in got for b in m["batches"])
    assert announced == [*range(1, 2001, 10), 2001]  # each once, the end marker included
    assert len(got) < 201, "a burst of batches should share messages"


def test_a_gap_is_never_skipped(rpc, publish):
    record = new_id()
    first, second, third, end = batches(record, 30, 10)
    publish(first, third, end)
    # Line 21 on is stored (a reader already past the gap sees it) ...
    wait_for(lambda: rpc.logs.read_log(record, None, None, 20, 100)["complete"], 10, "lines 21+")
    # ... but a reader from the start stops before the missing lines 11..20 (once lines 1..10,
    # stored by another consumer than the later batches, are there).
    wait_for(
        lambda: (
            rpc.logs.read_log(record, None, None, 0, 100)
            == {"lines": expected(10), "next": 10, "complete": False}
        ),
        10,
        "lines 1..10 and the gap",
    )
    assert rpc.logs.read_log(record, None, None, 10, 100) == {
        "lines": [],
        "next": 10,
        "complete": False,
    }
    publish(second)
    assert follow(rpc, record) == expected(30)


def test_eof_makes_the_log_complete(rpc, publish):
    record = new_id()
    *lines, end = batches(record, 20, 5)
    publish(*lines)
    wait_for(lambda: rpc.logs.read_log(record, None, None, 0, 100)["next"] == 20, 10, "20 lines")
    assert rpc.logs.read_log(record, None, None, 0, 100)["complete"] is False
    publish(end)
    wait_for(lambda: rpc.logs.read_log(record, None, None, 20, 100)["complete"], 10, "the end")
    assert rpc.logs.read_log(record, None, None, 0, 100) == {
        "lines": expected(20),
        "next": 20,
        "complete": True,
    }
    empty = new_id()
    publish(eof(empty, 1))
    wait_for(lambda: rpc.logs.read_log(empty, None, None, 0, 10)["complete"], 10, "empty log")
    assert rpc.logs.read_log(empty, None, None, 0, 10)["lines"] == []
    assert rpc.logs.log_stages(empty) == []


def test_resume_with_after_and_next(rpc, publish):
    record = new_id()
    publish(*batches(record, 50, 6))
    follow(rpc, record)
    got: list[str] = []
    after, replies = 0, 0
    while True:
        chunk = rpc.logs.read_log(record, None, None, after, 7)
        assert len(chunk["lines"]) <= 7
        got += chunk["lines"]
        after, replies = chunk["next"], replies + 1
        if chunk["complete"]:
            break
    assert got == expected(50)
    assert replies == 8  # 7 full pages, then line 50 and the end marker


def test_stage_and_task_filters(rpc, publish):
    record = new_id()

    def batch(seq: int, stage: str, task: str | None = None) -> dict[str, Any]:
        lines = [f"{stage}/{task} {i}" for i in range(seq, seq + 5)]
        out = {"record_id": record, "seq": seq, "stage": stage, "lines": lines}
        return out | ({"task": task} if task else {})

    sent = [
        batch(1, "codeCheckout"),
        batch(6, "unitTest", "t1"),
        batch(11, "unitTest", "t2"),
        batch(16, "package"),
        eof(record, 21, "package"),
    ]
    publish(*reversed(sent))
    everything = follow(rpc, record)
    assert len(everything) == 20
    assert rpc.logs.log_stages(record) == ["codeCheckout", "unitTest", "package"]

    first = rpc.logs.read_log(record, "unitTest", None, 0, 3)
    assert first == {"lines": everything[5:8], "next": 8, "complete": False}
    rest = rpc.logs.read_log(record, "unitTest", None, first["next"], 100)
    # Line numbers stay whole-record ones: the read walked over the package lines to the end.
    assert rest == {"lines": everything[8:15], "next": 20, "complete": True}
    assert follow(rpc, record, stage="unitTest", task="t2") == everything[10:15]
    assert follow(rpc, record, stage="package") == everything[15:]
    assert follow(rpc, record, stage="imageBuild") == []


def test_records_deleted_event_deletes_their_lines(rpc, publish, amqp_uri):
    doomed, kept = new_id(), new_id()
    publish(*batches(doomed, 30, 10), *batches(kept, 30, 10))
    follow(rpc, doomed)
    follow(rpc, kept)
    dispatch = EventDispatcher({"AMQP_URI": amqp_uri, "serializer": "json"})
    dispatch(*events.RECORDS_DELETED, {"record_ids": [doomed, new_id()]})
    wait_for(lambda: rpc.logs.log_stages(doomed) == [], 10, "the deletion")
    assert rpc.logs.read_log(doomed, None, None, 0, 100) == {
        "lines": [],
        "next": 0,
        "complete": False,
    }
    assert follow(rpc, kept) == expected(30)
    dispatch(*events.RECORDS_DELETED, {"not": "a payload"})  # dropped, not stuck
    publish(*batches(doomed, 5, 5))  # late lines of a deleted record are just stored
    assert follow(rpc, doomed) == expected(5)
    # Deleting again deletes those too, and shows the bad payload did not block the handler.
    # (Sent only once the late lines are stored: events and batches are handled concurrently,
    # so a deletion sent before them could be handled after them and delete them.)
    dispatch(*events.RECORDS_DELETED, {"record_ids": [doomed]})
    wait_for(lambda: rpc.logs.log_stages(doomed) == [], 10, "the second deletion")
    assert follow(rpc, kept) == expected(30)


def test_stop_and_kill_mid_stream_lose_nothing(rpc, publish, service: LogsProcess):
    record = new_id()
    sent = batches(record, 30_000, 100)
    try:
        publish(*sent[:100])
        assert service.stop() == 0  # graceful, while those are being stored
        publish(*sent[100:200])  # nobody consuming: they wait in the queue
        service.start(rpc)
        publish(*sent[200:250])
        service.stop(signal.SIGKILL)  # no chance to finish or ack
        publish(*sent[250:270])
        service.start(rpc)
        publish(*sent[270:])
        assert follow(rpc, record) == expected(30_000)
    finally:
        if not service.running:
            service.start(rpc)


def test_a_database_outage_delays_storage_but_loses_nothing(
    rpc, publish, mongo: MongoProcess, service: LogsProcess
):
    record = new_id()
    sent = batches(record, 3000, 100)
    publish(*sent[:10])
    wait_for(lambda: rpc.logs.read_log(record, None, None, 0, 10)["lines"], 10, "first lines")
    mongo.stop()
    try:
        publish(*sent[10:])  # the service holds these, retrying, while the database is away
        wait_for(
            lambda: f"storing {record}:" in service.log_path.read_text(errors="replace"),
            30,
            "the service to fail a store and retry",
            every=0.1,
        )
    finally:
        mongo.start()
    assert follow(rpc, record, timeout=30) == expected(3000)


def test_huge_and_unusual_text_round_trips(rpc, publish):
    record = new_id()
    megabyte = "x" * (1 << 20)
    replaced = b"bad \xff\xfe bytes \xc3\x28 end".decode("utf-8", "replace")
    unusual = ["é ü 😀 \t tab", "nul \x00 byte", "", "  ", replaced]
    publish(
        {"record_id": record, "seq": 1, "stage": "unitTest", "lines": [megabyte, *unusual]},
        {"record_id": record, "seq": 7, "stage": "unitTest", "lines": ["lone \ud800 half"]},
        eof(record, 8),
    )
    got = follow(rpc, record)
    assert got[:6] == [megabyte, *unusual]
    assert "\ufffd" in replaced
    # A lone surrogate (only a JSON escape can make one) cannot be stored: it is replaced.
    assert got[6].startswith("lone ") and got[6].endswith(" half") and "\ufffd" in got[6]


def queued(amqp_uri: str) -> int:
    """Messages in the log queue, ready or being handled (rabbitmqctl: a message requeued in
    a loop is always one of the two)."""
    vhost = unquote(urlsplit(amqp_uri).path[1:])
    return int(queue_column(vhost, "messages").get(logs.QUEUE, 0))


def test_batches_no_retry_can_store_are_dead_lettered_without_blocking(rpc, publish, amqp_uri):
    record = new_id()
    publish(b"\x00\x01", content_type="application/octet-stream", content_encoding="binary")
    publish("{not json", content_type="application/json", content_encoding="utf-8")
    publish({"record_id": record, "seq": "one", "stage": "s", "lines": []}, ["a list"])
    # past BSON's int64: once requeued forever, in a hot loop
    publish({"record_id": record, "seq": 2**63, "stage": "s", "lines": ["x"]})
    publish(*batches(record, 3, 3))
    assert follow(rpc, record) == expected(3)
    wait_for(lambda: queued(amqp_uri) == 0, 30, "the log queue to empty")

    def dead() -> list[str]:
        return [
            d.error
            for d in deadletters.list_letters(amqp_uri, [services.LOGS], 100)
            if record in d.body
        ]

    # each one tried once (no retry can help), kept with its reason for an operator
    found = wait_for(lambda: len(dead()) == 2 and dead(), 30, "two dead letters")
    assert any(
        e.startswith("shared.contracts.boundary.MalformedPayload: malformed log batch: seq:")
        for e in found
    ), found
    assert any(
        e.startswith("shared.redelivery.Poison") and "past the largest line number" in e
        for e in found
    ), found


def test_a_batch_that_breaks_the_contract_is_dead_lettered_naming_the_field(rpc, publish, amqp_uri):
    """Checked against shared/contracts/logs.LogBatch where it arrives: dead-lettered at once
    with the field that broke it in x-cyclone-error, and the batches after it are stored."""
    record = new_id()
    publish({"record_id": record, "seq": 1, "stage": "s", "lines": ["ok", 7]})
    publish(*batches(record, 4, 2))
    assert follow(rpc, record) == expected(4)

    def letters() -> list[deadletters.DeadLetter]:
        found = deadletters.list_letters(amqp_uri, [services.LOGS], 100)
        return [d for d in found if record in d.body]

    (letter,) = wait_for(lambda: letters() or None, 30, "the malformed batch's dead letter")
    assert letter.tries == 1 and letter.queue == logs.QUEUE, letter
    assert letter.error.startswith(
        "shared.contracts.boundary.MalformedPayload: malformed log batch: lines.1: "
    ), letter.error


def test_batches_not_signed_by_their_records_worker_are_dropped(rpc, publish):
    record, other = new_id(), new_id()
    forged = [
        {"record_id": record, "seq": 1, "stage": "s", "lines": ["unsigned"]},
        {"record_id": record, "seq": 1, "stage": "s", "lines": ["bad"], "worker_mac": "0" * 64},
        # signed with another record's token
        {
            "record_id": record,
            "seq": 1,
            "stage": "s",
            "lines": ["other's"],
            "worker_mac": workertoken.batch_mac(
                TOKENS.issue(other), {"record_id": record, "seq": 1, "stage": "s", "lines": ["x"]}
            ),
        },
        # a real signature moved onto other lines
        {
            "record_id": record,
            "seq": 1,
            "stage": "s",
            "lines": ["moved"],
            "worker_mac": workertoken.batch_mac(
                TOKENS.issue(record), {"record_id": record, "seq": 1, "stage": "s", "lines": ["x"]}
            ),
        },
    ]
    publish(*forged, sign=False)
    publish(*batches(record, 3, 3))  # the worker's own, after the forged ones
    assert follow(rpc, record) == expected(3)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("r", None, None, -1, 10), "after"),
        (("r", None, None, 0, 0), "limit"),
        (("r", None, None, 0, 10_001), "limit"),
        (("r", None, None, "0", 10), "after"),
        (("", None, None, 0, 10), "record_id"),
        (("r", 5, None, 0, 10), "stage"),
    ],
)
def test_read_log_rejects_bad_arguments(rpc, args, problem):
    with pytest.raises(RemoteError) as err:
        rpc.logs.read_log(*args)
    assert err.value.exc_type == "ValueError"
    assert problem in str(err.value)


def test_reads_of_unknown_records_and_limits(rpc):
    assert rpc.logs.read_log(new_id(), None, None, 0, 10_000) == {
        "lines": [],
        "next": 0,
        "complete": False,
    }
    assert rpc.logs.read_log(new_id(), None, None, 5, 1)["next"] == 5
    assert rpc.logs.log_stages(new_id()) == []


def test_ingest_throughput(rpc, publish, capsys):
    """Printed, not asserted: 100k lines of ~80 characters in 200-line batches."""
    record = new_id()
    sent = batches(record, 100_000, 200, width=80)
    started = time.perf_counter()
    publish(*sent)
    published = time.perf_counter() - started
    got = follow(rpc, record, timeout=60)
    stored = time.perf_counter() - started
    assert len(got) == 100_000 and got[-1].startswith("line 100000 ")
    with capsys.disabled():
        print(
            f"\nlogs ingest: 100000 lines in {len(sent) - 1} batches published in "
            f"{published:.2f}s, stored and read back in {stored:.2f}s "
            f"= {100_000 / stored:,.0f} lines/s end to end"
        )
