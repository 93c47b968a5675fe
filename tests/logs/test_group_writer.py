"""The logs store's group commits (services/logs/store.py GroupWriter) on the real server:
concurrent callers share inserts, and each still gets its own documents' outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pymongo
import pytest

from services.logs.store import COLLECTION, GroupWriter, StoreRejected, StoreUnavailable


@pytest.fixture
def chunks(mongo_url: str) -> Iterator[pymongo.collection.Collection]:
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=3000)
    coll = client.get_database("group_writer")[COLLECTION]
    coll.delete_many({})
    yield coll
    client.close()


def doc(record: str, seq: int, **extra: object) -> dict:
    return {
        "_id": f"{record}:{seq:09d}",
        "record_id": record,
        "seq": seq,
        "n": 1,
        "bytes": 1,
        "stage": "s",
        "lines": [f"line {seq}"],
        **extra,
    }


def writer(coll, calls: list[int]) -> GroupWriter:
    def insert_many(docs):
        calls.append(len(docs))
        return coll.insert_many(docs, ordered=False)

    return GroupWriter(insert_many, coll.insert_one, lambda: time.sleep(0.05))


def run_all(write, batches) -> list[object]:
    results: list[object] = [None] * len(batches)

    def one(i: int) -> None:
        try:
            results[i] = write(batches[i])
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_writes_share_inserts_and_each_counts_its_own(chunks):
    calls: list[int] = []
    gw = writer(chunks, calls)
    chunks.insert_one(doc("r", 3))  # stored before: a redelivery of seq 3
    results = run_all(gw.write, [[doc("r", i)] for i in range(10)])
    assert results == [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
    assert sorted(d["seq"] for d in chunks.find({"record_id": "r"})) == list(range(10))
    assert len(calls) < 10 and sum(calls) == 10  # grouped: fewer inserts than callers


def test_a_document_the_database_refuses_fails_only_its_caller(chunks):
    gw = writer(chunks, [])
    bad = doc("r", 1, lines={"not", "encodable"})  # a set: pymongo cannot encode it
    results = run_all(gw.write, [[doc("r", 0)], [bad], [doc("r", 2)]])
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], StoreRejected)
    assert sorted(d["seq"] for d in chunks.find({"record_id": "r"})) == [0, 2]


def test_an_unreachable_database_fails_every_caller_as_unavailable():
    client: pymongo.MongoClient = pymongo.MongoClient(
        "mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=300
    )
    coll = client.get_database("nowhere")[COLLECTION]
    gw = writer(coll, [])
    results = run_all(gw.write, [[doc("r", 0)], [doc("r", 1)]])
    assert all(isinstance(r, StoreUnavailable) for r in results), results
