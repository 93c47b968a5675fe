"""The gateway's collections (projects, pipelines, integrations, outbox, post_commit_runs,
tickets, ui_sessions) over async pymongo.

The only module of the gateway that imports pymongo. Stored documents keep the API's field
names, with `_id` as ObjectId and times as datetimes; what the store hands out is typed
(shared/contracts/catalog.py Project, Pipeline and Integration) in the
shape the bus carries: `_id` as the string `id`, times as RFC 3339 strings. views.py turns
those into answers (secrets masked) and snapshots (secrets sealed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Generic, TypeVar, cast

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError
from typing_extensions import TypedDict

from services.api import views
from services.api.domain.errors import Conflict, NotFound
from services.api.domain.names import with_suffix
from shared import mongo, timefmt
from shared.contracts.catalog import Integration, Pipeline, Project

# The server is out of reach (not answering, or the connection broke): 503, not 500.
DATABASE_DOWN: tuple[type[Exception], ...] = (ConnectionFailure,)
NEWEST_FIRST = [("creationTime", DESCENDING), ("_id", DESCENDING)]
SVN_REPO_ID = "autoTrigger.scmTrigger.postCommit.repoInfo.id"

# An event to publish: ((source, type), payload).
Announced = tuple[tuple[str, str], Mapping[str, object]]
# A catalog document as the store hands it out: Project, Pipeline or Integration.
D = TypeVar("D", bound=Mapping[str, object])


def _out(raw: Mapping[str, object]) -> dict[str, object]:
    """A stored document as the rest of the gateway sees it: `_id` as the string `id` (first),
    times as RFC 3339 strings, everything else as stored."""
    out: dict[str, object] = {"id": str(raw["_id"])}
    for key, value in raw.items():
        if key != "_id":
            out[key] = timefmt.rfc3339(value) if isinstance(value, datetime) else value
    return out


def _oid(doc: Mapping[str, object]) -> ObjectId:
    return ObjectId(str(doc["id"]))


def new_id() -> str:
    """An id for a document about to be inserted (a webhook URL names it before the save)."""
    return str(ObjectId())


class Repository(Generic[D]):
    """One collection of named resources; `scope` narrows it (pipelines of one project).

    Answers documents typed `D` with `id` (services/api/store.py `_out`); takes them so too:
    an `id` given to `insert` is kept (a webhook URL named it), `replace` keeps the stored one.
    """

    def __init__(self, coll: AsyncCollection, kind: str, scope_field: str | None = None) -> None:
        self._coll = coll
        self.kind = kind
        self._scope_field = scope_field

    def _filter(self, scope: str | None, **more: object) -> dict[str, object]:
        flt = dict(more)
        if self._scope_field:
            flt[self._scope_field] = scope
        return flt

    @staticmethod
    def _doc(raw: Mapping[str, object]) -> D:
        return cast(D, _out(raw))

    async def ensure_indexes(self) -> None:
        keys = [(self._scope_field, ASCENDING)] if self._scope_field else []
        await self._coll.create_index([*keys, ("name", ASCENDING)], unique=True)
        await self._coll.create_index([*keys, *NEWEST_FIRST])

    async def page(self, scope: str | None, start: int, limit: int) -> tuple[int, list[D]]:
        flt = self._filter(scope)
        total = await self._coll.count_documents(flt)
        cursor = self._coll.find(flt).sort(NEWEST_FIRST).skip(start).limit(limit)
        return total, [self._doc(raw) for raw in await cursor.to_list()]

    async def get(self, scope: str | None, name: str) -> D:
        raw = await self._coll.find_one(self._filter(scope, name=name))
        if raw is None:
            raise NotFound(f"{self.kind} {name} not found")
        return self._doc(raw)

    async def insert(self, scope: str | None, doc: D, *, generated_name: bool) -> D:
        """Insert with fresh id and times; a generated name that collides gets a suffix."""
        now = timefmt.now()
        raw = dict(doc)
        given = raw.pop("id", None)
        raw.update(_id=ObjectId(str(given)) if given else ObjectId())
        raw.update(creationTime=now, lastUpdateTime=now)
        if self._scope_field:
            raw[self._scope_field] = scope
        for _attempt in range(5):
            try:
                await self._coll.insert_one(raw)
                return self._doc(raw)
            except DuplicateKeyError as exc:
                if not generated_name:
                    raise Conflict(f"{self.kind} {raw['name']} already exists") from exc
                raw["name"] = with_suffix(str(raw["name"]))
        raise Conflict(f"could not generate a free {self.kind} name from the alias")

    async def replace(self, stored: D, doc: D) -> D:
        """Replace `stored` by `doc`, keeping identity, scope and creation time."""
        raw = dict(doc)
        raw.pop("id", None)
        raw.update(
            _id=_oid(stored),
            name=stored["name"],
            creationTime=timefmt.parse(stored.get("creationTime")),
            lastUpdateTime=timefmt.now(),
        )
        if self._scope_field:
            raw[self._scope_field] = stored[self._scope_field]
        # replace_one, not findAndModify: the embedded server scans the whole collection for
        # one (services/scheduler/store.py); what is stored now is `raw` itself.
        replaced = await self._coll.replace_one({"_id": raw["_id"]}, raw)
        if replaced.matched_count == 0:
            raise NotFound(f"{self.kind} {stored['name']} not found")
        return self._doc(raw)

    async def delete(self, doc: D) -> None:
        result = await self._coll.delete_one({"_id": _oid(doc)})
        if result.deleted_count == 0:
            raise NotFound(f"{self.kind} {doc['name']} not found")

    async def all_in_scope(self, scope: str) -> list[D]:
        """Every document of `scope` with its id, name and webhook only."""
        fields = {"_id": 1, "name": 1, "autoTrigger.scmTrigger.webhook": 1}
        return [
            self._doc(raw) for raw in await self._coll.find(self._filter(scope), fields).to_list()
        ]

    async def delete_scope(self, scope: str) -> int:
        return (await self._coll.delete_many(self._filter(scope))).deleted_count


class OutboxEvent(TypedDict):
    """One `outbox` document: an event waiting to be published."""

    _id: ObjectId
    source: str
    type: str
    payload: Mapping[str, object]
    claimedUntil: datetime


class Outbox:
    """Events to publish, written beside the change that caused them.

    A crash or a broker outage between the change and the publish loses no event: the
    gateway's flusher retries until the broker takes it (at-least-once delivery).
    """

    LEASE = timedelta(seconds=30)
    RETRY_AFTER = timedelta(seconds=2)

    def __init__(self, coll: AsyncCollection) -> None:
        self._coll = coll

    async def ensure_indexes(self) -> None:
        await self._coll.create_index([("claimedUntil", ASCENDING), ("_id", ASCENDING)])

    async def add(self, events: list[Announced]) -> None:
        if events:
            epoch = datetime.fromtimestamp(0, tz=timefmt.now().tzinfo)
            await self._coll.insert_many(
                [
                    {"source": src, "type": typ, "payload": payload, "claimedUntil": epoch}
                    for (src, typ), payload in events
                ],
                ordered=True,
            )

    async def drain(
        self, publish: Callable[[str, str, Mapping[str, object]], Awaitable[None]]
    ) -> int:
        """Publish every due event in insertion order; returns how many went out."""
        sent = 0
        while True:
            now = timefmt.now()
            doc = await self._claim(now)
            if doc is None:
                return sent
            try:
                await publish(doc["source"], doc["type"], doc["payload"])
            except Exception:
                # Give the event back soon rather than after the whole lease.
                await self._coll.update_one(
                    {"_id": doc["_id"]}, {"$set": {"claimedUntil": now + self.RETRY_AFTER}}
                )
                raise
            await self._coll.delete_one({"_id": doc["_id"]})
            sent += 1

    async def _claim(self, now: datetime) -> OutboxEvent | None:
        """The oldest due event, leased by a compare-and-set (as shared.mongo.claim_first,
        which is synchronous: no findAndModify, which the embedded server answers by a scan)."""
        due = {"claimedUntil": {"$lte": now}}
        lease = {"$set": {"claimedUntil": now + self.LEASE}}
        while True:
            found = self._coll.find(due).sort("_id", ASCENDING).limit(mongo.CLAIM_BATCH)
            seen = await found.to_list()
            for doc in seen:
                if (await self._coll.update_one({**due, "_id": doc["_id"]}, lease)).matched_count:
                    return doc
            if len(seen) < mongo.CLAIM_BATCH:
                return None

    async def pending(self) -> int:
        return await self._coll.count_documents({})


class Tickets:
    """`tickets`: short-lived, single-use credentials for the log WebSocket (docs/api.md).

    Browsers cannot set headers on a WebSocket, and a long-lived API token in a URL ends up in
    histories and proxies' logs; a ticket is good once, for TICKET_TTL. Only its SHA-256 is
    kept, so the collection holds nothing a reader could use; a taken ticket is deleted in the
    same atomic step (a conditional delete_one), whichever gateway process redeems it.
    """

    def __init__(self, coll: AsyncCollection) -> None:
        self._coll = coll

    async def ensure_indexes(self) -> None:
        await self._coll.create_index("expiresAt")

    async def issue(self, digest: str, expires: datetime) -> None:
        await self._coll.insert_one({"_id": digest, "expiresAt": expires})
        # expired ones nobody redeemed go with the next issue (cheap: an indexed range)
        await self._coll.delete_many({"expiresAt": {"$lte": timefmt.now()}})

    async def redeem(self, digest: str) -> bool:
        taken = await self._coll.delete_one({"_id": digest, "expiresAt": {"$gt": timefmt.now()}})
        return taken.deleted_count == 1


class UiSession(TypedDict):
    tokenMark: str  # which API token opened it (services/api/ui/session.py)


class UiSessions:
    """`ui_sessions`: the web UI's sign-ins (services/api/ui/session.py, docs/security.md).

    Kept in the database, not in a process, because the gateway runs several processes and any
    of them may get the next request; kept at all (rather than a signed cookie alone) so that
    logging out ends a session everywhere at once. Only the SHA-256 of a session id is stored,
    with its expiry and a mark of the API token it was opened with: a reader of the collection
    learns nothing usable, and a new API token ends every session.
    """

    def __init__(self, coll: AsyncCollection) -> None:
        self._coll = coll

    async def ensure_indexes(self) -> None:
        await self._coll.create_index("expiresAt")

    async def open(self, digest: str, expires: datetime, token_mark: str) -> None:
        await self._coll.insert_one({"_id": digest, "expiresAt": expires, "tokenMark": token_mark})
        await self._coll.delete_many({"expiresAt": {"$lte": timefmt.now()}})

    async def find(self, digest: str) -> UiSession | None:
        found = await self._coll.find_one({"_id": digest, "expiresAt": {"$gt": timefmt.now()}})
        return None if found is None else UiSession(tokenMark=str(found.get("tokenMark", "")))

    async def close(self, digest: str) -> None:
        await self._coll.delete_one({"_id": digest})


class Claim(TypedDict, total=False):
    record: str  # the record the claim's run started, once started


class PostCommitRuns:
    """`post_commit_runs`: the revisions that started a pipeline through the SVN hook.

    A document per (pipeline, repository UUID, revision), `_id` made of the three and inserted
    before the run is created: the unique `_id` makes the claim atomic across concurrent
    requests and gateway processes, so a revision starts a pipeline at most once. Kept while
    the pipeline exists (SVN revisions are not reused; a document is ~100 bytes).
    """

    def __init__(self, coll: AsyncCollection) -> None:
        self._coll = coll

    async def ensure_indexes(self) -> None:
        await self._coll.create_index("pipelineID")

    @staticmethod
    def key(pipeline_id: str, repo_id: str, revision: int) -> str:
        return f"{pipeline_id}:{repo_id}:{revision}"

    async def claim(self, key: str, pipeline_id: str) -> Claim | None:
        """Take `key`; None when taken now, else the claim of whoever took it first."""
        try:
            await self._coll.insert_one(
                {"_id": key, "pipelineID": pipeline_id, "at": timefmt.now()}
            )
        except DuplicateKeyError:
            found = await self._coll.find_one({"_id": key}) or {}
            return Claim(record=str(found["record"])) if found.get("record") else Claim()
        return None

    async def started(self, key: str, record_id: str) -> None:
        await self._coll.update_one({"_id": key}, {"$set": {"record": record_id}})

    async def release(self, key: str) -> None:
        """Give a claim back (its run could not be created): the hook may be sent again."""
        await self._coll.delete_one({"_id": key})

    async def forget(self, pipeline_ids: list[str]) -> None:
        if pipeline_ids:
            await self._coll.delete_many({"pipelineID": {"$in": pipeline_ids}})


class CatalogStore:
    """Everything the gateway keeps, opened on one database."""

    def __init__(self, client: AsyncMongoClient, db_name: str) -> None:
        self.client = client
        self.db: AsyncDatabase = client[db_name]
        self.projects: Repository[Project] = Repository(self.db.projects, "project")
        self.pipelines: Repository[Pipeline] = Repository(
            self.db.pipelines, "pipeline", scope_field="projectID"
        )
        self.integrations: Repository[Integration] = Repository(self.db.integrations, "integration")
        self.outbox = Outbox(self.db.outbox)
        self.post_commit_runs = PostCommitRuns(self.db.post_commit_runs)
        self.tickets = Tickets(self.db.tickets)
        self.ui_sessions = UiSessions(self.db.ui_sessions)

    async def ensure_indexes(self) -> None:
        parts = (self.projects, self.pipelines, self.integrations, self.outbox)
        for part in (*parts, self.post_commit_runs, self.tickets, self.ui_sessions):
            await part.ensure_indexes()
        await self.db.pipelines.create_index(SVN_REPO_ID)

    async def pipelines_of_svn_repo(self, repo_id: str) -> list[Pipeline]:
        found = await self.db.pipelines.find({SVN_REPO_ID: repo_id}).to_list()
        return [cast(Pipeline, _out(raw)) for raw in found]

    async def pipeline_by_id(self, pipeline_id: str) -> Pipeline | None:
        try:
            oid = ObjectId(pipeline_id)
        except (InvalidId, TypeError):
            return None
        raw = await self.db.pipelines.find_one({"_id": oid})
        return None if raw is None else cast(Pipeline, _out(raw))

    async def project_by_id(self, project_id: str) -> Project | None:
        raw = await self.db.projects.find_one({"_id": ObjectId(project_id)})
        return None if raw is None else cast(Project, _out(raw))

    async def run_snapshot(self, pipeline: Pipeline) -> Pipeline:
        """A pipeline as a run needs it: its snapshot with the SonarQube integration its
        codeScan names embedded (sealed, as stored), so the worker gets address and token
        with the job. An unknown integration is embedded as nothing: the stage says so."""
        snap = views.snapshot(pipeline)
        sonar = snap.get("build", {}).get("stages", {}).get("codeScan", {}).get("sonarqube")
        if sonar and sonar.get("name"):
            found = await self.db.integrations.find_one({"name": sonar["name"]})
            sonar["integration"] = cast(Integration, _out(found)) if found else None
        return snap

    async def ping(self) -> None:
        await self.db.command("ping")
