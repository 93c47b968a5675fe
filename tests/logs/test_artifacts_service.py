"""The logs service's artifact calls against a real broker and database: tokens and grants,
the chunk rules, sha256 checked on what is stored, staging and keeping, the limit, deletion."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId
from nameko.standalone.events import event_dispatcher

from services.worker.artifacts import ArtifactClient, SourceFile
from services.worker.bus import RpcSession
from shared.contracts import artifacts as art
from shared.contracts import errors, events
from tests.e2e.artifact_checks import rss_kib
from tests.logs.conftest import TOKENS, LogsProcess
from tests.waiting import wait_for


@pytest.fixture
def record() -> str:
    return str(ObjectId())


@pytest.fixture
def client(amqp_uri: str, service: LogsProcess, record: str) -> Iterator[ArtifactClient]:
    found = ArtifactClient(amqp_uri, record, TOKENS.issue(record), session=RpcSession(amqp_uri, 30))
    yield found
    found.close()


def source(path: str, data: bytes, mode: int = 0o644) -> SourceFile:
    return SourceFile(path, len(data), mode, io.BytesIO(data))


def test_kept_files_are_listed_and_read_back(client: ArtifactClient, rpc: Any, record: str):
    big = os.urandom(art.CHUNK_SIZE * 2 + 17)
    kept = client.keep("package", [source("bin/app", big, 0o755), source("e", b"")], print)
    assert kept == ["bin/app", "e"]
    items = rpc.logs.list_artifacts(record)
    assert [(i["path"], i["size"], i["stage"]) for i in items] == [
        ("bin/app", len(big), "package"),
        ("e", 0, "package"),
    ]
    assert items[0]["sha256"] == hashlib.sha256(big).hexdigest()
    info = rpc.logs.artifact_info(record, "bin/app")
    assert info["mode"] == 0o755
    part = rpc.logs.read_artifact(record, info["id"], art.CHUNK_SIZE - 5, 10)
    assert base64.b64decode(part) == big[art.CHUNK_SIZE - 5 : art.CHUNK_SIZE + 5]
    with pytest.raises(errors.InvalidRequest):
        rpc.logs.read_artifact(record, info["id"], 0, art.MAX_READ + 1)


def test_a_worker_token_reaches_its_own_record_only(amqp_uri: str, service, record: str):
    other = str(ObjectId())
    session = RpcSession(amqp_uri, 30)
    try:
        with pytest.raises(errors.Unauthorized):
            session.call("logs", art.BEGIN, [other, TOKENS.issue(record), "package", "a", 1, 0])
        with pytest.raises(errors.Unauthorized):
            session.call("logs", art.BEGIN, [record, "", "package", "a", 1, 0])
        upload = session.call(
            "logs", art.BEGIN, [record, TOKENS.issue(record), "package", "a", 1, 0]
        )
        with pytest.raises(errors.NotFound):  # another record's token cannot write its chunks
            session.call(
                "logs", art.CHUNK, [other, TOKENS.issue(other), upload["upload"], 0, "YQ=="]
            )
    finally:
        session.close()


def test_chunks_and_hashes_must_fit(amqp_uri: str, service, record: str):
    token = TOKENS.issue(record)
    session = RpcSession(amqp_uri, 30)
    try:
        for bad in ("../x", "/etc/passwd", "a/./b", ""):
            with pytest.raises(errors.InvalidRequest):
                session.call("logs", art.BEGIN, [record, token, "package", bad, 1, 0])
        upload = session.call("logs", art.BEGIN, [record, token, "package", "f", 3, 0])["upload"]
        with pytest.raises(errors.InvalidRequest):  # 3 bytes are one chunk of 3
            session.call("logs", art.CHUNK, [record, token, upload, 0, "YQ=="])
        with pytest.raises(errors.InvalidRequest):
            session.call("logs", art.CHUNK, [record, token, upload, 1, "YWJj"])
        session.call("logs", art.CHUNK, [record, token, upload, 0, "YWJj"])
        session.call("logs", art.CHUNK, [record, token, upload, 0, "YWJj"])  # redelivered
        with pytest.raises(errors.InvalidRequest):
            session.call("logs", art.COMMIT, [record, token, upload, "0" * 64])
        with pytest.raises(errors.NotFound):  # a refused commit drops the file
            session.call("logs", art.KEEP, [record, token, "package", [upload]])
    finally:
        session.close()


def test_the_limit_and_a_failed_stage_keep_nothing(
    client: ArtifactClient, rpc: Any, record: str, amqp_uri: str
):
    with open(os.devnull, "rb") as empty:
        over = SourceFile("huge", art.DEFAULT_MAX_BYTES + 1, 0o644, empty)
        with pytest.raises(errors.InvalidRequest, match="CYCLONE_ARTIFACTS_MAX_BYTES"):
            client.keep("package", [source("small", b"abc"), over], print)
    assert rpc.logs.list_artifacts(record) == []
    assert rpc.logs.artifact_discard(record, TOKENS.issue(record), "package") == 0


def test_reading_another_record_needs_a_grant(client: ArtifactClient, amqp_uri: str, record: str):
    client.keep("package", [source("bin/app", b"hello")], print)
    reader = str(ObjectId())
    grant = TOKENS.read_grant(record, reader)
    session = RpcSession(amqp_uri, 30)
    try:
        args = [record, reader, TOKENS.issue(reader)]
        items = session.call("logs", art.MANIFEST, [*args, grant])
        assert [i["path"] for i in items] == ["bin/app"]
        data = session.call("logs", art.FETCH, [*args, grant, items[0]["id"], 0, 5])
        assert base64.b64decode(data) == b"hello"
        for bad in (TOKENS.read_grant(record, str(ObjectId())), TOKENS.issue(record), ""):
            with pytest.raises(errors.Unauthorized):
                session.call("logs", art.MANIFEST, [*args, bad])
        with pytest.raises(errors.Unauthorized):  # the grant is the reader's, with its token
            session.call("logs", art.MANIFEST, [record, reader, TOKENS.issue(record), grant])
    finally:
        session.close()


def test_records_deleted_removes_their_artifacts(
    client: ArtifactClient, rpc: Any, record: str, amqp_uri: str
):
    client.keep("package", [source("a", os.urandom(1000))], print)
    assert len(rpc.logs.list_artifacts(record)) == 1
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri, "serializer": "json"})
    dispatch(events.RECORDS_DELETED[0], events.RECORDS_DELETED[1], {"record_ids": [record]})
    wait_for(lambda: rpc.logs.list_artifacts(record) == [], 10, "artifacts deleted")


def test_memory_while_a_large_file_is_kept(client: ArtifactClient, service: LogsProcess):
    """Phases of a 100 MiB upload, for the note on memory (asserted in tests/e2e)."""
    assert service.proc is not None
    pid = service.proc.pid
    before = rss_kib(pid)

    class Zeros:
        def __init__(self, size: int) -> None:
            self.left = size

        def read(self, n: int) -> bytes:
            n = min(n, self.left)
            self.left -= n
            return os.urandom(n)

    size = 100 * 1024 * 1024
    client.keep("package", [SourceFile("big", size, 0o644, Zeros(size))], lambda _l: None)
    grown = (rss_kib(pid) - before) * 1024
    print(f"logs service RSS growth after keeping 100 MiB: {grown} bytes")
    assert grown < 50_000_000
