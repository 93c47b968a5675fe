"""A nameko dependency handing a service its MongoDB database (one client per container).

Each service wraps the database in its own `store.py`; only collections the service owns
may be touched (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nameko.extensions import DependencyProvider
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from shared import config


def settings_of(container: Any) -> config.Settings:
    """The Settings the runner put in the nameko config (shared/runner.py)."""
    found = container.config.get("CYCLONE")
    return found if isinstance(found, config.Settings) else config.load()


# Writes are acknowledged once in the server's journal (writeConcern j:true): a record, a log
# line or a delivery acknowledged to a client survives a crash of the database server (with
# MongoDB's default j:false, the last ~100 ms of acknowledged writes may not).
JOURNALED = True


def connect(settings: config.Settings) -> MongoClient[dict[str, Any]]:
    if not settings.mongo_url:
        raise RuntimeError("CYCLONE_MONGO_URL is not set (make run sets it)")
    return MongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=10000, journal=JOURNALED
    )


# Candidates read per round by claim_first: a few more than the callers racing for them.
CLAIM_BATCH = 8


def claim_first(
    coll: Collection[Any],
    condition: Mapping[str, object],
    update: Mapping[str, object],
    sort: Sequence[tuple[str, int]],
    seen: Sequence[object] = (),
) -> object | None:
    """The `_id` of the first document matching `condition` in `sort` order that this call
    changed by `update` (which must make `condition` false), or None when none matches.
    `seen`: ids first_matching read for the same condition, tried before reading again (a
    caller that needed to know whether any matched does not pay the read twice); they may be
    stale, so only a read made here ends the search empty-handed.

    A compare-and-set per candidate, not findAndModify: the embedded server answers a
    findAndModify by scanning the whole collection (tests/unit/test_query_shapes.py)."""
    ids = list(seen) or first_matching(coll, condition, sort)
    fresh = not seen  # only a read made here says there are no more
    while True:
        for taken in ids:
            if coll.update_one({**condition, "_id": taken}, update).matched_count:
                return taken
        if fresh and len(ids) < CLAIM_BATCH:
            return None  # every candidate went to another caller, and there are no more
        ids, fresh = first_matching(coll, condition, sort), True


def first_matching(
    coll: Collection[Any], condition: Mapping[str, object], sort: Sequence[tuple[str, int]]
) -> list[object]:
    """The ids of the first CLAIM_BATCH documents matching `condition`, in `sort` order."""
    return [d["_id"] for d in coll.find(condition, {"_id": 1}).sort(list(sort)).limit(CLAIM_BATCH)]


class MongoDatabase(DependencyProvider):  # type: ignore[misc]  # nameko ships no type information
    """The service's database, opened when the container sets up and closed when it stops;
    a subclass builds its store on `self.database` and hands that to workers in its own
    `get_dependency` (one client per provider)."""

    database: Database[dict[str, Any]]

    def setup(self) -> None:
        settings = settings_of(self.container)
        self.client = connect(settings)
        self.database = self.client[settings.mongo_db]

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()
