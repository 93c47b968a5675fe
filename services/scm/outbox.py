"""The scm service's `scm_outbox` collection: what is still to be sent after a record ends
(notifications, commit statuses, tags), so delivery survives restarts and never holds up
event handling.

One document per delivery, `_id` = `{record id}:{key}` (domain/notify.py), inserted only
once, so a redelivered event adds nothing. Senders claim a due document with a lease, like the
gateway's outbox: two scm replicas never send one delivery at the same time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NotRequired, cast

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from typing_extensions import TypedDict

from services.scm.domain.notify import Body, Delivery, Kind, Target
from shared.mongo import claim_first

PENDING = "pending"
DONE = "done"
FAILED = "failed"  # given up: a 4xx answer, or every try used
SKIPPED = "skipped"  # nothing to send it with (no SMTP server, unsupported SCM)
SUPERSEDED = "superseded"  # a pending commit status overtaken by the final one
KEEP_FINISHED = timedelta(days=7)


class OutboxItem(TypedDict):
    """One `scm_outbox` document: a planned delivery (domain/notify.py) and its sending."""

    _id: str  # {record id}:{key}
    record: str
    key: str
    kind: Kind
    target: Target
    body: Body
    state: str  # PENDING, DONE, FAILED, SKIPPED, SUPERSEDED
    attempts: int  # tries claimed so far
    createdAt: datetime
    nextAt: datetime  # not sent before
    leaseUntil: datetime  # claimed by a sender until then
    doneAt: NotRequired[datetime]
    lastError: NotRequired[str]


class Outbox:
    def __init__(self, db: Database) -> None:
        # Only this class writes the collection, always whole OutboxItems.
        self.items = cast("Collection[OutboxItem]", db.scm_outbox)

    def ensure_indexes(self) -> None:
        self.items.create_index([("state", ASCENDING), ("nextAt", ASCENDING)])
        self.items.create_index("record")
        self.items.create_index("doneAt", expireAfterSeconds=int(KEEP_FINISHED.total_seconds()))

    def add(
        self,
        record_id: str,
        deliveries: Iterable[Delivery],
        now: datetime,
        not_before: datetime | None = None,
    ) -> int:
        """Queue deliveries once each; returns how many were new."""
        added = 0
        for d in deliveries:
            result = self.items.update_one(
                {"_id": f"{record_id}:{d.key}"},
                {
                    "$setOnInsert": {
                        "record": record_id,
                        "key": d.key,
                        "kind": d.kind,
                        "target": d.target,
                        "body": d.body,
                        "state": PENDING,
                        "attempts": 0,
                        "createdAt": now,
                        "nextAt": max(now, not_before or now),
                        "leaseUntil": now,
                    }
                },
                upsert=True,
            )
            added += result.upserted_id is not None
        return added

    def backlog(self) -> int:
        """Deliveries still to send (new or waiting for a retry)."""
        return self.items.count_documents({"state": PENDING})

    def get(self, record_id: str, key: str) -> OutboxItem | None:
        return self.items.find_one({"_id": f"{record_id}:{key}"})

    def claim(self, now: datetime, lease: timedelta) -> OutboxItem | None:
        """The oldest due delivery, leased to the caller and its attempt counted."""
        taken = claim_first(
            self.items,
            {"state": PENDING, "nextAt": {"$lte": now}, "leaseUntil": {"$lte": now}},
            {"$set": {"leaseUntil": now + lease}, "$inc": {"attempts": 1}},
            [("nextAt", ASCENDING)],
        )
        return None if taken is None else self.items.find_one({"_id": taken})

    def finish(self, item_id: str, state: str, now: datetime, note: str = "") -> None:
        self.items.update_one(
            {"_id": item_id, "state": PENDING},
            {"$set": {"state": state, "doneAt": now, "lastError": note}},
        )

    def retry(self, item_id: str, at: datetime, note: str) -> None:
        self.items.update_one(
            {"_id": item_id, "state": PENDING},
            {"$set": {"nextAt": at, "leaseUntil": at, "lastError": note}},
        )

    def supersede(self, record_id: str, key: str, now: datetime) -> datetime | None:
        """Drop a delivery not sent yet; returns when a send in flight may still land (its
        lease), so what replaces it can wait until then."""
        item_id = f"{record_id}:{key}"
        dropped = self.items.update_one(
            {"_id": item_id, "state": PENDING}, {"$set": {"state": SUPERSEDED, "doneAt": now}}
        )
        # its lease can no longer move: only a pending delivery is leased
        doc = self.items.find_one({"_id": item_id}) if dropped.matched_count else None
        if doc is None or doc["leaseUntil"] <= now:
            return None
        return doc["leaseUntil"]

    def of_record(self, record_id: str) -> list[OutboxItem]:
        return list(self.items.find({"record": record_id}).sort("createdAt", ASCENDING))
