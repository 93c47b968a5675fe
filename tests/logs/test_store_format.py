"""How the logs store keeps a chunk's lines (services/logs/store.py) on the real server: as one
compressed newline-joined text (`zst`) when that can be split back exactly, as a list
otherwise, and documents stored the older ways (a list, a plain `text`) still read."""

from __future__ import annotations

from collections.abc import Iterator

import pymongo
import pytest
import zstandard

from services.logs.domain import chunk_id
from services.logs.store import COLLECTION, LogStore


@pytest.fixture
def db(mongo_url: str) -> Iterator[pymongo.database.Database]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=3000)
    database = client.get_database("log_store_format")
    database[COLLECTION].delete_many({})
    yield database
    client.close()


def read_all(store: LogStore, record: str) -> list[str]:
    return store.read(record, None, None, 0, 1000)["lines"]


def old_chunk(record: str, seq: int, **lines: object) -> dict[str, object]:
    """A chunk as an earlier version stored it (`lines` or `text`)."""
    n = len(lines["lines"]) if "lines" in lines else str(lines["text"]).count("\n") + 1
    return {
        "_id": chunk_id(record, seq),
        "record_id": record,
        "seq": seq,
        "n": n,
        "bytes": 2,
        "stage": "package",
        **lines,
    }


def test_plain_lines_are_one_compressed_text_and_read_back_the_same(db):
    store = LogStore(db)
    lines = ["first", "", "  indented", "last \r", "ünïcode ✓"]
    store.add({"record_id": "r1", "seq": 1, "stage": "package", "lines": lines, "eof": True})
    stored = db[COLLECTION].find_one({"_id": chunk_id("r1", 1)})
    assert "lines" not in stored and "text" not in stored
    joined = zstandard.decompress(stored["zst"]).decode("utf-8")
    assert joined == "first\n\n  indented\nlast \r\nünïcode ✓"
    assert read_all(store, "r1") == lines


def test_a_log_is_stored_in_a_fraction_of_its_size(db):
    store = LogStore(db)
    lines = [f"line {i:09d} compiling module_{i % 50}.py ... ok" for i in range(1000)]
    store.add({"record_id": "r5", "seq": 1, "stage": "package", "lines": lines, "eof": True})
    stored = db[COLLECTION].find_one({"_id": chunk_id("r5", 1)})
    assert len(stored["zst"]) * 5 < stored["bytes"]
    assert read_all(store, "r5") == lines


def test_a_single_empty_line_stays_one_line(db):
    store = LogStore(db)
    store.add({"record_id": "r2", "seq": 1, "stage": "package", "lines": [""]})
    store.add({"record_id": "r2", "seq": 2, "stage": "package", "lines": ["x"], "eof": True})
    assert read_all(store, "r2") == ["", "x"]


def test_lines_holding_a_newline_are_kept_as_a_list(db):
    store = LogStore(db)
    lines = ["one", "two\nstill two", "three"]
    store.add({"record_id": "r3", "seq": 1, "stage": "package", "lines": lines, "eof": True})
    stored = db[COLLECTION].find_one({"_id": chunk_id("r3", 1)})
    assert stored["lines"] == lines and "text" not in stored and "zst" not in stored
    assert read_all(store, "r3") == lines


def test_chunks_stored_the_older_ways_still_read(db):
    db[COLLECTION].insert_many(
        [old_chunk("r4", 1, lines=["a", "b"]), old_chunk("r4", 3, text="c\n\nd")]
    )
    store = LogStore(db)
    store.add({"record_id": "r4", "seq": 6, "stage": "package", "lines": ["e"], "eof": True})
    assert read_all(store, "r4") == ["a", "b", "c", "", "d", "e"]
    assert store.read("r4", None, None, 1, 1)["lines"] == ["b"]
    assert store.read("r4", None, None, 3, 2)["lines"] == ["", "d"]
