"""The scheduler's record store against the real embedded MongoDB-compatible server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from pymongo import MongoClient

from services.scheduler import store as store_module
from services.scheduler.store import RecordStore


def test_first_records_of_a_pipeline_created_at_once_are_numbered_once_each(mongo_url, unique):
    """Twelve creations racing for a new pipeline's counter: each gets its own number (the
    first version lost some of them to the counter's racing upserts: a 503 for the POST)."""
    with MongoClient(mongo_url) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        for round_ in range(5):
            pipeline = f"{unique}-p{round_}"  # new to the module's shared database

            def create(n: int, pipeline: str = pipeline) -> int:
                doc, _ = store.insert({"pipelineID": pipeline, "status": "Pending", "n": n})
                return doc["pipelineSeq"]

            with ThreadPoolExecutor(12) as pool:
                seqs = list(pool.map(create, range(12)))
            assert sorted(seqs) == list(range(1, 13))


def test_day_counters_bumped_at_once_count_every_bump(mongo_url, unique):
    """The stats counters of a new day are made by racing upserts too."""
    from services.scheduler.counters import StatsCounters

    with MongoClient(mongo_url) as client:
        counters = StatsCounters(client.get_default_database())
        for round_ in range(5):
            record = {
                "projectID": f"{unique}-proj{round_}",
                "pipelineID": f"{unique}-pipe{round_}",
                "startDay": 20000,
            }
            with ThreadPoolExecutor(12) as pool:
                list(pool.map(lambda _n, r=record: counters.created(r), range(12)))
            got = counters.days.find_one({"_id": f"projectID:{unique}-proj{round_}:20000"})
            assert got is not None and got["total"] == 12, got


def test_records_waiting_for_room_are_found(mongo_url, unique):
    with MongoClient(mongo_url) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        waiting, _ = store.insert(
            {"pipelineID": unique, "status": "Pending", "waitingFor": "quota"}
        )
        store.insert({"pipelineID": unique, "status": "Pending"})
        store.insert({"pipelineID": unique, "status": "Running", "waitingFor": "quota"})
        found = [d["_id"] for d in store.waiting_for_room() if d["pipelineID"] == unique]
        assert found == [waiting["_id"]]


def test_indexes_of_older_versions_no_query_uses_are_dropped(mongo_url):
    """Each index costs every write of a record; older versions made two no query uses, and
    one on `afterEnd` that held every record (it is sparse now: only records whose
    after-effects are pending are in it)."""
    with MongoClient(mongo_url) as client:
        store = RecordStore(client.get_default_database())
        store.records.drop_indexes()
        store.records.create_index([("projectID", 1), ("startTime", 1)])
        store.records.create_index([("pipelineID", 1), ("startTime", 1)])
        store.records.create_index([("afterEnd", 1)])
        store.ensure_indexes()
        indexes = store.records.index_information()
        assert set(indexes) == {
            "_id_",
            "pipelineID_1_startTime_-1__id_-1",
            "pipelineID_1_pipelineSeq_1",
            "status_1_startTime_1__id_1",
            "afterEnd_1",
            "requestKey_1",
        }
        assert indexes["afterEnd_1"].get("sparse") is True
        store.ensure_indexes()  # again, as every start does: nothing to replace
        assert store.records.index_information() == indexes


def test_one_record_per_request_key_whatever_the_race(mongo_url, unique):
    """Deliveries of one create_record request reaching two replicas at once store one record
    (a unique index); the loser answers the winner's record, and the count stays right. An
    older non-unique index is replaced at start."""
    with MongoClient(mongo_url) as client:
        database = client.get_default_database()
        store = RecordStore(database)
        store.ensure_indexes()
        store.records.drop_index("requestKey_1")
        store.records.create_index("requestKey", sparse=True)  # as older versions made it
        store.ensure_indexes()
        assert store.records.index_information()["requestKey_1"].get("unique") is True

        def create(_n: int) -> str:
            doc = {"pipelineID": unique, "status": "Pending", "requestKey": f"{unique}-k"}
            return str(store.insert(doc)[0]["_id"])

        with ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(create, range(8)))
        assert len(ids) == 1
        assert store.records.count_documents({"pipelineID": unique}) == 1
        assert store.counts.find_one({"_id": unique})["stored"] == 1


def test_the_after_effects_of_an_end_stay_marked_until_done(mongo_url, unique):
    """An end is stored with `afterEnd` in the same update: if the ending call dies before
    counting, freeing the slot and announcing it (a crash, the database gone), the reaper of
    any replica finds the record and does them; the count is the ending call's alone."""
    from datetime import UTC, datetime, timedelta

    with MongoClient(mongo_url, tz_aware=True) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        doc, _ = store.insert({"pipelineID": unique, "status": "Running", "stageStatus": {}})
        record_id = str(doc["_id"])
        now = datetime.now(UTC)
        ended = store.finish(record_id, "Success", "", now, ("Running",))
        assert ended is not None and ended["afterEnd"] is True
        assert ended["counted"] is True  # by the one call that ended it: no reaper counts it
        assert store.finish(record_id, "Failed", "", now, ("Running",)) is None  # ends once
        later = now + timedelta(seconds=6)
        assert record_id in [str(d["_id"]) for d in store.after_end_pending(later)]
        assert record_id not in [str(d["_id"]) for d in store.after_end_pending(now - timedelta(1))]
        store.after_end_done(record_id)
        assert record_id not in [str(d["_id"]) for d in store.after_end_pending(later)]


def test_a_stage_end_seen_before_its_start_keeps_the_workers_start(mongo_url, unique):
    """stage_started and stage_finished travel on different queues: when the end is applied
    first, the start the worker noted in it is the stage's (and its duration's), once."""
    with MongoClient(mongo_url, tz_aware=True) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        doc, _ = store.insert(
            {"pipelineID": unique, "status": "Running", "stageStatus": {"package": {}}}
        )
        rid, start, end = str(doc["_id"]), "2026-12-05T01:00:00Z", "2026-12-05T01:00:07Z"
        now = datetime.now(UTC)
        began = store.stage_finished(rid, "package", "Failed", end, {}, now, started=start)
        assert began == start
        assert store.stage_finished(rid, "package", "Failed", end, {}, now, started=start) is None
        store.stage_started(rid, "package", "2026-12-05T01:00:09Z", now)  # late: changes nothing
        stage = store.get(rid)["stageStatus"]["package"]
        assert stage["startTime"] == start and stage["status"] == "Failed"


def test_a_stage_end_keeps_the_start_stored_before_it(mongo_url, unique):
    """The usual order: the start stored first stays (an end noting a later one, or none as
    an older worker sends it, does not move it), and the end gives its duration's start."""
    with MongoClient(mongo_url, tz_aware=True) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        stages = {"checkout": {}, "package": {}}
        doc, _ = store.insert({"pipelineID": unique, "status": "Running", "stageStatus": stages})
        rid, start, end = str(doc["_id"]), "2026-12-05T01:00:00.000Z", "2026-12-05T01:00:07.000Z"
        now = datetime.now(UTC)
        for stage, noted in (("checkout", "2026-12-05T01:00:00.004Z"), ("package", None)):
            store.stage_started(rid, stage, start, now)
            began = store.stage_finished(rid, stage, "Success", end, {}, now, started=noted)
            assert began == (noted or start)
            assert store.get(rid)["stageStatus"][stage]["startTime"] == start


def test_a_stage_report_is_a_beat_of_its_worker(mongo_url, unique):
    """The worker's job request stores no beat: its first stage's start, sent a few ms
    later, is its first sign of life (no write of its own), and each stage report after it
    is a beat too; a report the record no longer takes (it ended) is none."""
    with MongoClient(mongo_url, tz_aware=True) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        stages = {"checkout": {}, "package": {}}
        doc, _ = store.insert({"pipelineID": unique, "status": "Running", "stageStatus": stages})
        rid, at = str(doc["_id"]), "2026-12-05T01:00:00.000Z"
        assert store.running_doc(rid) is not None and "heartbeatAt" not in store.get(rid)
        first, second = (datetime(2026, 12, 5, 1, 0, s, tzinfo=UTC) for s in (1, 2))
        store.stage_started(rid, "checkout", at, first)
        assert store.get(rid)["heartbeatAt"] == first
        store.stage_finished(rid, "checkout", "Success", at, {}, second, started=at)
        assert store.get(rid)["heartbeatAt"] == second
        store.finish(rid, "Success", "", second, ("Running",))
        store.stage_started(rid, "package", at, second + timedelta(seconds=5))
        assert store.get(rid)["heartbeatAt"] == second


def test_set_worker_saves_the_worker_and_says_whether_the_record_still_runs(mongo_url, unique):
    """An answered start is saved on its record either way; False tells the scheduler that
    the record ended meanwhile (an abort), so the worker must be stopped."""
    with MongoClient(mongo_url) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        running, _ = store.insert({"pipelineID": unique, "status": "Running", "retryAt": 1})
        aborted, _ = store.insert({"pipelineID": unique, "status": "Aborted"})
        worker = {"name": "cyclone-worker-x", "status": "Running"}
        assert store.set_worker(str(running["_id"]), worker) is True  # type: ignore[arg-type]
        assert store.set_worker(str(aborted["_id"]), worker) is False  # type: ignore[arg-type]
        for doc in (running, aborted):
            saved = store.records.find_one({"_id": doc["_id"]})
            assert saved["worker"] == worker and "retryAt" not in saved, saved
        assert store.records.find_one({"_id": aborted["_id"]})["status"] == "Aborted"


def test_a_start_that_left_no_trace_is_claimed_again_once(mongo_url, unique):
    """A Running record with no worker saved and no heartbeat a lease after its start was
    asked (the replica asking died) is claimed for one more try, by one replica at a time;
    one with a worker, a heartbeat or a recent start is not."""
    from datetime import UTC, datetime, timedelta

    lease = timedelta(seconds=13)
    with MongoClient(mongo_url, tz_aware=True) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()
        now = datetime.now(UTC)
        old = now - timedelta(seconds=30)

        def record(**fields: object) -> str:
            doc = {"pipelineID": unique, "status": "Running", "dispatchedAt": old, **fields}
            return str(store.insert(doc)[0]["_id"])

        lost = record(launchAt=old)
        before_launch_at = record()  # dispatched by a version that did not note launchAt
        record(launchAt=old, worker={"name": "w"})
        record(launchAt=old, heartbeatAt=now)
        record(launchAt=now - timedelta(seconds=2))
        record(launchAt=old, status="Pending")

        def claims() -> list[str]:
            got = []
            while (doc := store.claim_relaunch(now, lease)) is not None:
                if doc["pipelineID"] == unique:
                    got.append(str(doc["_id"]))
            return got

        assert sorted(claims()) == sorted([lost, before_launch_at])
        assert claims() == []  # claimed: not again until another lease has passed
        again = store.claim_relaunch(now + lease * 2, lease)  # that try left no trace either
        assert again is not None and str(again["_id"]) in (lost, before_launch_at)


def test_pages_are_ranges_of_numbers_and_stay_right_through_deletes(mongo_url, unique):
    """Pages are read as one range of sequence numbers (domain/pages.py); deleting records in
    the middle and at the oldest end, a redelivered create that stores nothing, and a number
    lost without a trace all leave every page what sorting the stored records gives."""
    with MongoClient(mongo_url) as client:
        db = client.get_default_database()
        store = RecordStore(db)
        store.ensure_indexes()
        pipeline = f"{unique}-pages"

        def new(n: int, key: str | None = None) -> dict:
            doc = {"pipelineID": pipeline, "projectID": "p", "status": "Success", "n": n}
            if key:
                doc["requestKey"] = key
            return store.insert(doc)[0]

        made = [new(n) for n in range(40)]
        assert new(99, key=f"{unique}-k")["n"] == 99
        assert new(98, key=f"{unique}-k")["n"] == 99  # a redelivery: its number is a hole
        store.delete([made[i] for i in (5, 6, 20, 33)])  # in the middle
        store.delete(made[:4])  # the oldest, as retention does
        counts = db.pipeline_record_counts.find_one({"_id": pipeline})
        assert counts["floor"] == 4 and counts["holes"] == [6, 7, 21, 34, 42]

        def expected(start: int, limit: int) -> list[int]:
            docs = db.records.find({"pipelineID": pipeline}).sort("pipelineSeq", -1)
            return [d["n"] for d in docs][start : start + limit]

        def got(start: int, limit: int) -> list[int]:
            total, docs = store.page(pipeline, start, limit)
            assert total == db.records.count_documents({"pipelineID": pipeline})
            return [d["n"] for d in docs]

        for start in (0, 1, 5, 6, 7, 15, 30, 32, 33, 40):
            for limit in (1, 5, 20):
                assert got(start, limit) == expected(start, limit), (start, limit)

        # a number gone without a trace: the count says so, and pages are found by scanning
        db.pipeline_record_counts.update_one({"_id": pipeline}, {"$inc": {"seq": 1}})
        new(100)
        assert got(0, 3) == expected(0, 3) == [100, 99, 39]
        assert got(2, 5) == expected(2, 5)


def test_numbers_stay_unique_and_counted_when_tickets_fall_off(mongo_url, unique, monkeypatch):
    """A numbering whose ticket others pushed off the counter before its read (more than
    TICKETS at once; 1 here) loses that number, as a crash would, and takes another: every
    record still gets its own number, and the count is the records stored."""
    monkeypatch.setattr(store_module, "TICKETS", 1)
    with MongoClient(mongo_url) as client:
        store = RecordStore(client.get_default_database())
        store.ensure_indexes()

        def create(n: int) -> int:
            doc, _ = store.insert({"pipelineID": unique, "status": "Pending", "n": n})
            return doc["pipelineSeq"]

        with ThreadPoolExecutor(8) as pool:
            seqs = list(pool.map(create, range(40)))
        assert len(set(seqs)) == 40
        counts = store.counts.find_one({"_id": unique})
        assert counts["stored"] == 40 == store.records.count_documents({"pipelineID": unique})
        assert counts["seq"] >= max(seqs)
