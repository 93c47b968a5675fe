"""How the logs store keeps a chunk's lines (services/logs/store.py) on the real server: as one
newline-joined `text` when that can be split back exactly, as a list otherwise, and documents
stored the older way (a list) still read."""

from __future__ import annotations

from collections.abc import Iterator

import pymongo
import pytest

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


def test_plain_lines_are_one_text_and_read_back_the_same(db):
    store = LogStore(db)
    lines = ["first", "", "  indented", "last \r"]
    store.add({"record_id": "r1", "seq": 1, "stage": "package", "lines": lines, "eof": True})
    stored = db[COLLECTION].find_one({"_id": chunk_id("r1", 1)})
    assert stored["text"] == "first\n\n  indented\nlast \r" and "lines" not in stored
    assert read_all(store, "r1") == lines


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
    assert stored["lines"] == lines and "text" not in stored
    assert read_all(store, "r3") == lines


def test_chunks_stored_as_lists_before_still_read(db):
    db[COLLECTION].insert_one(
        {
            "_id": chunk_id("r4", 1),
            "record_id": "r4",
            "seq": 1,
            "n": 2,
            "bytes": 2,
            "stage": "package",
            "lines": ["a", "b"],
        }
    )
    store = LogStore(db)
    store.add({"record_id": "r4", "seq": 3, "stage": "package", "lines": ["c"], "eof": True})
    assert read_all(store, "r4") == ["a", "b", "c"]
    assert store.read("r4", None, None, 1, 1)["lines"] == ["b"]
