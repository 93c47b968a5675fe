"""The scheduler's collections: `records` and `dispatch_slots`. The only pymongo module here.

Every change a worker reports is a conditional update, so events may arrive twice or out of
order and several scheduler replicas may handle them at once without corrupting a record.

No findAndModify: the embedded server answers one by scanning the whole collection (its write
re-asserts the filter under an `$and`, see tests/unit/test_query_shapes.py), 40 ms over 5,000
records. A claim is a conditional `update_one` (a compare-and-set on what was read) and, when
the document is wanted, a `find_one` by `_id` after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.scheduler.documents import (
    NewRecord,
    PendingHead,
    PipelineCounts,
    RecordDoc,
    RecordHead,
    RecordKeys,
    Slot,
    StoredStage,
)
from services.scheduler.domain import pages
from services.scheduler.domain import records as rec
from shared.contracts.errors import NotFound
from shared.contracts.records import TERMINAL, RecordStatus, StageState, StageStatus
from shared.contracts.rpc import WorkerInfo
from shared.mongo import claim_first, first_matching

REQUEST_KEY_INDEX = "requestKey_1"
AFTER_END_INDEX = "afterEnd_1"
# Indexes of older versions no query uses any more: the embedded server updates every index
# of a record on each of its writes, changed keys or not (stats read `stats_days`).
OBSOLETE_INDEXES = ("projectID_1_startTime_1", "pipelineID_1_startTime_1")

NEWEST_FIRST = [("startTime", DESCENDING), ("_id", DESCENDING)]
OLDEST_FIRST = [("startTime", ASCENDING), ("_id", ASCENDING)]
# A stage status the scheduler filled in itself (run ended, abort) and a late report may correct.
UNREPORTED = [StageStatus.PENDING, StageStatus.RUNNING, None]
FREE_SLOT = {"record": None, "_id": {"$gte": 0}}
PENDING_HEAD = dict.fromkeys(PendingHead.__annotations__, 1)  # a projection
LOWEST_SLOT = [("_id", ASCENDING)]


def object_id(record_id: str) -> ObjectId:
    try:
        return ObjectId(record_id)
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"record {record_id} not found") from exc


UPSERT_TRIES = 10
# A compare-and-set lost means another caller's won: each try is progress for someone. The
# bound only turns a database that never answers alike into an error.
CAS_TRIES = 1000
# Past this many holes over a pipeline's floor (numbers lost by a crash between numbering and
# storing a record never join the floor), the floor is found again from the records.
HOLES_MAX = 10_000
# Tickets a pipeline's counter keeps of its last numberings (_next_seq): more than this many
# creations of one pipeline between one's increment and its read would lose its number.
TICKETS = 256
NO_TICKETS = {"tickets": 0}  # a projection: what reads of the counter other than _next_seq want


class RecordStore:
    def __init__(self, db: Database) -> None:
        self.records = db.records
        self.slots = db.dispatch_slots
        # Per pipeline: the last record sequence number given out and how many are stored.
        # Pages read a window of sequence numbers instead of sorting a pipeline's records
        # (the embedded server fetches every match of a query before it sorts and limits).
        self.counts = db.pipeline_record_counts

    def ensure_indexes(self) -> None:
        existing = self.records.index_information()
        # Sorts by start time are done in memory, but without this index (which its filter by
        # pipeline alone could do without) the embedded server answered a page and a record's
        # whole life slower (bench.stats p50: 11-13 -> 16-21 ms and 32-40 -> 50-54 ms).
        self.records.create_index([("pipelineID", ASCENDING), *NEWEST_FIRST])
        self.records.create_index([("pipelineID", ASCENDING), ("pipelineSeq", ASCENDING)])
        for unused in OBSOLETE_INDEXES:
            if unused in existing:
                self.records.drop_index(unused)
        self.records.create_index([("status", ASCENDING), *OLDEST_FIRST])
        # Options cannot change in place: an index older versions made without them is
        # replaced. `afterEnd` is there only between an end and its after-effects, so a sparse
        # index keeps every other record out of it and costs their writes nothing (0.15 ms).
        # One record per request, whichever replica a redelivered request reaches (older
        # versions' index was not unique).
        for name, key, unique in (
            (AFTER_END_INDEX, "afterEnd", False),
            (REQUEST_KEY_INDEX, "requestKey", True),
        ):
            old = existing.get(name)
            if old is not None and (not old.get("sparse") or bool(old.get("unique")) != unique):
                self.records.drop_index(name)
            self.records.create_index([(key, ASCENDING)], name=name, sparse=True, unique=unique)
        self.slots.create_index([("record", ASCENDING)])

    # --- dispatch slots: the global concurrency limit, shared by every replica -------------

    def ensure_slots(self, count: int) -> None:
        for i in range(count):
            self.slots.update_one(
                {"_id": i}, {"$setOnInsert": {"record": None, "at": None}}, upsert=True
            )
        self.slots.delete_many({"_id": {"$gte": count}, "record": None})

    def free_slots(self) -> list[int]:
        """The lowest free slots (a few), for claim_slot; empty when all are held."""
        return [int(cast(int, i)) for i in first_matching(self.slots, FREE_SLOT, LOWEST_SLOT)]

    def claim_slot(self, record_id: str, now: datetime, free: Sequence[int] = ()) -> int | None:
        """The lowest free slot, trying `free` (from free_slots) first; None when all are held."""
        taken = claim_first(
            self.slots, FREE_SLOT, {"$set": {"record": record_id, "at": now}}, LOWEST_SLOT, free
        )
        return None if taken is None else int(cast(int, taken))

    def release_slot(self, record_id: str) -> None:
        self.slots.update_many({"record": record_id}, {"$set": {"record": None, "at": None}})

    def held_slots(self) -> list[Slot]:
        return list(self.slots.find({"record": {"$ne": None}}))

    # --- records ---------------------------------------------------------------------------

    def by_request_key(self, key: str) -> RecordDoc | None:
        return self.records.find_one({"requestKey": key})

    def insert(self, new: NewRecord) -> tuple[RecordDoc, bool]:
        """The new record, stored, and True; or, for a `requestKey` another delivery of the
        request stored first, that one and False (the number taken for this one is given
        back to the count)."""
        doc: RecordDoc = {
            **new,
            "_id": ObjectId(),
            "pipelineSeq": self._next_seq(new["pipelineID"]),
        }
        try:
            self.records.insert_one(doc)
        except DuplicateKeyError:
            first = self.by_request_key(doc["requestKey"]) if doc.get("requestKey") else None
            if first is None:
                raise
            self.counts.update_one(
                {"_id": doc["pipelineID"]},
                {"$inc": {"stored": -1}, "$push": {"holes": doc["pipelineSeq"]}},
            )
            self._collapse(doc["pipelineID"])
            return first, False
        return doc, True

    def _next_seq(self, pipeline_id: str) -> int:
        """The pipeline's next sequence number: one increment that also appends a ticket of
        this call's to the counter's last TICKETS, then a read; the number is the counter
        less the tickets appended after this one. Two round trips, whoever else numbers at
        once (a compare-and-set on the last number cost POSTs racing for one pipeline a
        retry, two more round trips, in 60 of 100 under bench.runs' load).

        The counter is made by an insert of its own, never by an upsert: concurrent first
        records of a pipeline raced in the upsert, and on the embedded server a losing upsert
        counted yet answered nothing (a 503 for the POST, or a gap in the numbers and a
        wrong total when tried again)."""
        for _ in range(CAS_TRIES):
            ticket = ObjectId()
            taken = self.counts.update_one(
                {"_id": pipeline_id},
                {
                    "$inc": {"seq": 1, "stored": 1},
                    "$push": {"tickets": {"$each": [ticket], "$slice": -TICKETS}},
                },
            )
            if taken.matched_count == 1:
                counts = self.counts.find_one({"_id": pipeline_id}, {"seq": 1, "tickets": 1})
                tickets = (counts or {}).get("tickets", [])
                if counts and ticket in tickets:
                    return int(counts["seq"]) - (len(tickets) - 1 - tickets.index(ticket))
                # TICKETS others numbered in between (or the pipeline went): this number is
                # lost as a crash would lose it (pages scan), the count kept right
                self.counts.update_one({"_id": pipeline_id}, {"$inc": {"stored": -1}})
                continue
            with contextlib.suppress(DuplicateKeyError):  # another creation made it first
                made: PipelineCounts = {
                    "_id": pipeline_id,
                    "seq": 0,
                    "stored": 0,
                    "floor": 0,
                    "holes": [],
                }
                self.counts.insert_one(made)
        raise RuntimeError(f"could not number a record of pipeline {pipeline_id}")

    def get(self, record_id: str) -> RecordDoc:
        doc = self.records.find_one({"_id": object_id(record_id)})
        if doc is None:
            raise NotFound(f"record {record_id} not found")
        return doc

    def page(self, pipeline_id: str, start: int, limit: int) -> tuple[int, list[RecordHead]]:
        """Newest first (by sequence number, i.e. creation order): one index range of
        numbers (domain/pages.py); a scan of the newest numbers for a pipeline whose holes
        are not all known."""
        counts: PipelineCounts | None = self.counts.find_one({"_id": pipeline_id}, NO_TICKETS)
        if counts is None:
            return 0, []
        total = max(counts.get("stored", 0), 0)
        holes = counts.get("holes", [])
        # Every number is stored, under the floor or a known hole: else some went missing
        # unseen, and a range could be off by them. (A scheduler that died between numbering
        # a record and storing it also counted it: its total is one too high, and its
        # deeper pages one record off, until retention has deleted past that number.)
        known = counts["seq"] - counts.get("floor", 0) - len(holes) == counts.get("stored")
        if "floor" in counts and known and len(holes) <= HOLES_MAX:
            span = pages.page_range(counts["seq"], counts["floor"], holes, start, limit)
            if span is None:
                return total, []
            found: list[RecordHead] = list(
                self.records.find(
                    {
                        "pipelineID": pipeline_id,
                        "pipelineSeq": {"$gte": span.low, "$lte": span.high},
                    },
                    {"snapshot": 0},
                )
            )
            if len(found) == span.expected:
                found.sort(key=lambda d: d["pipelineSeq"], reverse=True)
                return total, found
            # a number lost without a trace (a crash between numbering and storing)
        return total, self._scan(counts, pipeline_id, start, limit)

    def _scan(
        self, counts: PipelineCounts, pipeline_id: str, start: int, limit: int
    ) -> list[RecordHead]:
        """The page from the newest numbers, read in growing windows until it is whole."""
        need, window = start + limit, max(2 * (start + limit), 64)
        while True:
            low = counts["seq"] - window
            docs: list[RecordHead] = list(
                self.records.find(
                    {"pipelineID": pipeline_id, "pipelineSeq": {"$gt": low}}, {"snapshot": 0}
                )
            )
            if len(docs) >= need or low <= 0:
                break
            window *= 4  # deleted records left holes: look further back
        docs.sort(key=lambda d: d["pipelineSeq"], reverse=True)
        return docs[start:need]

    def recent(self, pipeline_id: str, status: str | None, count: int) -> list[RecordHead]:
        flt: dict[str, object] = {"pipelineID": pipeline_id}
        if status:
            flt["status"] = status
        return list(self.records.find(flt, {"snapshot": 0}).sort(NEWEST_FIRST).limit(count))

    def oldest_pending(self, skip: int = 0) -> PendingHead | None:
        found: list[PendingHead] = list(
            self.records.find({"status": RecordStatus.PENDING}, PENDING_HEAD)
            .sort(OLDEST_FIRST)
            .skip(skip)
            .limit(1)
        )
        return found[0] if found else None

    def mark_dispatched(
        self, record_id: str, slot: int, now: datetime, timeout: int, start_timeout: float
    ) -> bool:
        """Pending -> Running, atomically: exactly one replica wins a record (True for it).
        `heartbeatAt` stays unset until the worker's first beat; `startBy` bounds the wait
        for it."""
        return self._changed(
            {"_id": object_id(record_id), "status": RecordStatus.PENDING},
            {
                "$set": {
                    "status": RecordStatus.RUNNING,
                    "slot": slot,
                    "dispatchedAt": now,
                    "launchAt": now,
                    "startBy": now + timedelta(seconds=start_timeout),
                    "timeoutAt": now + timedelta(seconds=timeout),
                }
            },
        )

    def _changed(self, condition: Mapping[str, object], update: Mapping[str, object]) -> bool:
        """A compare-and-set on one record (`condition` names its `_id`): whether it held."""
        return bool(self.records.update_one(condition, update).matched_count)

    def _set_and_get(
        self, condition: Mapping[str, object], update: Mapping[str, object]
    ) -> RecordDoc | None:
        """A compare-and-set on one record (`condition` names its `_id`), then the record as
        stored; None when the condition did not hold. What it returns may already carry a
        later change too, never an earlier state."""
        if not self._changed(condition, update):
            return None
        return self.records.find_one({"_id": condition["_id"]})

    def requeue(self, record_id: str, why: str, retry_at: datetime) -> None:
        """Running -> Pending again for a record whose worker could not start yet (the cloud
        has no room): dispatch leaves it alone until `retry_at`, and `waitingFor` says why
        until it starts. Only if nothing else moved it meanwhile."""
        self.records.update_one(
            {"_id": object_id(record_id), "status": RecordStatus.RUNNING, "worker": None},
            {
                "$set": {"status": RecordStatus.PENDING, "waitingFor": why, "retryAt": retry_at},
                "$unset": {
                    "slot": "",
                    "dispatchedAt": "",
                    "launchAt": "",
                    "heartbeatAt": "",
                    "startBy": "",
                    "timeoutAt": "",
                },
            },
        )

    def claim_relaunch(self, now: datetime, lease: timedelta) -> RecordDoc | None:
        """A Running record whose start was asked `lease` ago or more and left no trace (no
        worker saved, no heartbeat): the replica that asked died before the cloud's answer,
        or the cloud before its own. Claimed for one new try (`launchAt` moved), so exactly
        one replica tries; the cloud's start answers a worker it already has.

        The candidates come from the status index, each claimed by a compare-and-set on the
        time read: an `$or` in the filter made the embedded server scan every record, a
        second of its CPU per upkeep pass over 100,000 records (bench/stats.py)."""
        before = now - lease
        unknown = {"status": RecordStatus.RUNNING, "worker": None, "heartbeatAt": None}
        for seen in self.records.find(unknown, {"launchAt": 1, "dispatchedAt": 1}):
            times = {"launchAt": seen.get("launchAt"), "dispatchedAt": seen.get("dispatchedAt")}
            asked = times["launchAt"] or times["dispatchedAt"]  # launchAt is newer when set
            if asked is None or asked >= before:
                continue
            claimed = self._set_and_get(
                {"_id": seen["_id"], **unknown, **times}, {"$set": {"launchAt": now}}
            )
            if claimed is not None:
                return claimed
        return None

    def set_worker(self, record_id: str, worker: WorkerInfo) -> bool:
        """Saves what the cloud started; whether the record is still Running (one write when
        it is, as it nearly always is)."""
        change = {"$set": {"worker": worker}, "$unset": {"waitingFor": "", "retryAt": ""}}
        running = self.records.update_one(
            {"_id": object_id(record_id), "status": RecordStatus.RUNNING}, change
        )
        if running.matched_count:
            return True
        self.records.update_one({"_id": object_id(record_id)}, change)
        return False

    def stage_started(self, record_id: str, stage: str, time: str, now: datetime) -> None:
        """A stage report is also a beat of its worker (`now`), in the same write: the
        first one, a few ms after the worker got its job, is its first sign of life."""
        self.records.update_one(
            {
                "_id": object_id(record_id),
                "status": RecordStatus.RUNNING,
                f"stageStatus.{stage}.status": {"$in": [StageStatus.PENDING, None]},
            },
            {
                "$set": {
                    f"stageStatus.{stage}.status": StageStatus.RUNNING,
                    f"stageStatus.{stage}.startTime": time,
                    "heartbeatAt": now,
                }
            },
        )

    def stage_finished(
        self,
        record_id: str,
        stage: str,
        status: str,
        time: str,
        fields: StageState,
        now: datetime,
        started: str | None = None,
        name: str = "",
    ) -> str | None:
        """Store the stage's end; its start time (`started`, the worker's own note of it, else
        as stored), for its duration; None when this end was already reported. `name` names
        the record in the same update: a worker sends one only when its job came without a
        name (the checkout's commit names the run), so it overwrites nothing.

        With `started`, the same update keeps the earlier of it and the stored start (`$min`:
        both are the worker's rfc3339 times, which sort as text), so a stage whose start was
        not seen still gets one, without reading the record after (two reads per record in
        bench.runs)."""
        key = f"stageStatus.{stage}"
        update: dict[str, object] = {
            f"{key}.status": status,
            f"{key}.endTime": time,
            "heartbeatAt": now,  # a beat too, as a start is
        }
        if name:
            update["name"] = name
        update.update({f"{key}.{name}": value for name, value in fields.items()})
        change: dict[str, object] = {"$set": update, "$unset": {f"{key}.assumed": ""}}
        if started:
            change["$min"] = {f"{key}.startTime": started}
        # Not yet reported, or only assumed by the run's end: two conditional updates in turn,
        # not one with `$or`, which the embedded server answers by scanning every record.
        for unreported in ({f"{key}.status": {"$in": UNREPORTED}}, {f"{key}.assumed": True}):
            done = self.records.update_one({"_id": object_id(record_id), **unreported}, change)
            if done.matched_count:
                break
        else:
            return None
        if started:
            return started
        # No start with the end (an older worker): the start as stored, else the end's time.
        after = self.records.find_one({"_id": object_id(record_id)}, {f"{key}.startTime": 1})
        stored = (after or {}).get("stageStatus", {}).get(stage, {}).get("startTime")
        if not stored:  # a stage that finished before its start was seen still gets one
            self.records.update_one(
                {"_id": object_id(record_id), f"{key}.startTime": None},
                {"$set": {f"{key}.startTime": time}},
            )
        return stored or None

    def heartbeat(self, record_id: str, now: datetime) -> None:
        """A beat of the record while it is Running."""
        self.records.update_one(
            {"_id": object_id(record_id), "status": RecordStatus.RUNNING},
            {"$set": {"heartbeatAt": now}},
        )

    def running_doc(self, record_id: str) -> RecordDoc | None:
        """The record while it is Running; None otherwise."""
        return self.records.find_one({"_id": object_id(record_id), "status": RecordStatus.RUNNING})

    def worker_exited(self, record_id: str, reason: str, now: datetime, clean: bool) -> None:
        """`clean`: the worker exited 0, after it sent its run report (which may come late).
        Most exits follow the record's end: a read by `_id` says so for a fraction of what an
        update matching nothing costs the embedded server."""
        running = {"_id": object_id(record_id), "status": RecordStatus.RUNNING}
        if self.records.find_one(running, {"_id": 1}) is None:
            return
        self.records.update_one(
            running, {"$set": {"exitedAt": now, "exitReason": reason, "exitClean": clean}}
        )

    # --- the after-effects of an end, done at least once ---------------------------------
    # `finish` marks the record `afterEnd` in the same update that ends it; whoever finishes
    # the after-effects (the ending call, or the reaper of any replica after a crash or a
    # database error in between) removes the mark.

    def after_end_done(self, record_id: str) -> None:
        self.records.update_one({"_id": object_id(record_id)}, {"$unset": {"afterEnd": ""}})

    def after_end_pending(self, ended_before: datetime) -> list[RecordDoc]:
        return list(self.records.find({"afterEnd": True, "endTime": {"$lte": ended_before}}))

    def finish(
        self,
        record_id: str,
        status: str,
        error: str,
        now: datetime,
        expected: tuple[str, ...],
        extra: Mapping[str, object] | None = None,
        name: str = "",
    ) -> RecordDoc | None:
        """Move an active record to its end state; None when it was not in `expected`. The
        record is `counted` in the same step: the one ending it counts it in the stats (a
        crash right after loses that count rather than counting it twice). `name` names a
        record not named yet."""
        updates: dict[str, object] = {
            "status": status,
            "endTime": now,
            "afterEnd": True,
            "counted": True,
            **(extra or {}),
        }
        if error:
            updates["errorMessage"] = error
        before: RecordDoc | None = self.records.find_one(
            {"_id": object_id(record_id), "status": {"$in": list(expected)}}
        )
        if before is None:
            return None
        if name and not before.get("name"):
            updates["name"] = name
        # Settle the stages first, so nobody reads an ended record with Pending stages; the
        # second pass below catches stage reports that landed in between.
        self._settle_stages(before, status)
        doc = self._set_and_get(
            {"_id": object_id(record_id), "status": {"$in": list(expected)}}, {"$set": updates}
        )
        if doc is None:
            return None
        if not self._settle_stages(doc, status):
            return doc  # as it is stored: nothing was left to settle (a whole run's end)
        return self.records.find_one({"_id": doc["_id"]})

    def _settle_stages(self, doc: RecordDoc, final: str) -> bool:
        """Never-started stages are dropped; Running ones take the run's end, marked `assumed`
        so the worker's own late report of that stage still wins. Whether any was changed."""
        stage_status: dict[str, StoredStage] = doc.get("stageStatus", {})
        settled = rec.finished_stage_status(stage_status, final)
        changed = False
        for stage, before in stage_status.items():
            key = f"stageStatus.{stage}"
            state = before.get("status")
            if stage not in settled:
                done = self.records.update_one(
                    {"_id": doc["_id"], f"{key}.status": StageStatus.PENDING},
                    {"$unset": {key: ""}},
                )
            elif state == StageStatus.RUNNING:
                done = self.records.update_one(
                    {"_id": doc["_id"], f"{key}.status": StageStatus.RUNNING},
                    {"$set": {f"{key}.status": settled[stage]["status"], f"{key}.assumed": True}},
                )
            else:
                continue
            changed = changed or done.modified_count > 0
        return changed

    def waiting_for_room(self) -> list[RecordHead]:
        """Pending records their cloud had no room for (requeued: `waitingFor` says why)."""
        return list(
            self.records.find(
                {"status": RecordStatus.PENDING, "waitingFor": {"$exists": True}}, {"snapshot": 0}
            )
        )

    def running(self, condition: Mapping[str, object]) -> list[RecordHead]:
        """Running records that also match `condition` (a filter), without their snapshot."""
        return list(
            self.records.find({"status": RecordStatus.RUNNING, **condition}, {"snapshot": 0})
        )

    def count(self, status: str) -> int:
        return self.records.count_documents({"status": status})

    def is_running(self, record_id: str) -> bool:
        return (
            self.records.count_documents(
                {"_id": object_id(record_id), "status": RecordStatus.RUNNING}, limit=1
            )
            == 1
        )

    def delete(self, docs: Sequence[RecordKeys]) -> None:
        by_pipeline: dict[str, list[RecordKeys]] = {}
        for doc in docs:
            by_pipeline.setdefault(doc["pipelineID"], []).append(doc)
        for pipeline_id, some in by_pipeline.items():
            ids = [d["_id"] for d in some]
            gone = self.records.delete_many({"_id": {"$in": ids}}).deleted_count
            if gone:
                seqs = [d["pipelineSeq"] for d in some if "pipelineSeq" in d]
                self.counts.update_one(
                    {"_id": pipeline_id},
                    {"$inc": {"stored": -gone}, "$push": {"holes": {"$each": seqs}}},
                )
                self._collapse(pipeline_id)

    def _collapse(self, pipeline_id: str) -> None:
        """Raise the pipeline's floor over the holes right above it (domain/pages.py); a
        compare-and-set, so replicas deleting at once never lose a hole."""
        for _ in range(UPSERT_TRIES):
            counts: PipelineCounts | None = self.counts.find_one({"_id": pipeline_id}, NO_TICKETS)
            if counts is None or "floor" not in counts:
                return
            holes = counts.get("holes", [])
            floor, rest = pages.collapse(counts["floor"], holes)
            if len(rest) > HOLES_MAX:
                floor, rest = self._refloor(pipeline_id, rest)
            if floor == counts["floor"] and rest == holes:
                return
            done = self.counts.update_one(
                {"_id": pipeline_id, "floor": counts["floor"], "holes": holes},
                {"$set": {"floor": floor, "holes": rest}},
            )
            if done.matched_count:
                return

    def _refloor(self, pipeline_id: str, holes: list[int]) -> tuple[int, list[int]]:
        """The floor under the oldest stored record, found from the records (numbers lost
        by a crash kept the holes above them from ever joining the floor)."""
        oldest = self.records.find_one(
            {"pipelineID": pipeline_id}, {"pipelineSeq": 1}, sort=[("pipelineSeq", ASCENDING)]
        )
        floor = int(oldest["pipelineSeq"]) - 1 if oldest else max(holes)
        return floor, [h for h in holes if h > floor]

    def forget_pipelines(self, pipeline_ids: list[str]) -> None:
        self.counts.delete_many({"_id": {"$in": pipeline_ids}})

    def ids_of_pipelines(self, pipeline_ids: list[str]) -> list[RecordKeys]:
        return list(
            self.records.find(
                {"pipelineID": {"$in": pipeline_ids}},
                {
                    "_id": 1,
                    "status": 1,
                    "startDay": 1,
                    "projectID": 1,
                    "pipelineID": 1,
                    "pipelineSeq": 1,
                },
            )
        )

    def beyond_retention(self, pipeline_id: str, keep: int) -> list[str]:
        counts = self.counts.find_one({"_id": pipeline_id}, {"stored": 1})
        if counts is not None and counts.get("stored", 0) <= keep:
            return []  # the common case after a run: nothing to scan
        old = (
            self.records.find(
                {"pipelineID": pipeline_id, "status": {"$in": list(TERMINAL)}}, {"_id": 1}
            )
            .sort(NEWEST_FIRST)
            .skip(keep)
        )
        return [str(d["_id"]) for d in old]
