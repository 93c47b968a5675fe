"""Kept artifacts in GridFS (bucket `artifacts`): the only pymongo code for them.

Chunks are written one call at a time, by whichever logs replica takes the call, straight
into `artifacts.chunks` under the file's id; `(files_id, n)` is unique, so a call the broker
redelivers stores nothing twice. Files are read back one chunk per query (`files_id`, `n`):
the embedded server would load every match of a sorted query into memory first.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import NotRequired, cast

from bson import Binary, ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from typing_extensions import TypedDict

from services.logs import artifacts as rules
from services.logs.artifacts import KEPT, STAGED, UPLOADING, ArtifactRefused
from shared.contracts.artifacts import CHUNK_SIZE, DEFAULT_MAX_BYTES, Artifact, Upload
from shared.contracts.errors import NotFound

BUCKET = "artifacts"


class FileMeta(TypedDict):
    record_id: str
    stage: str
    path: str
    mode: int
    state: str  # UPLOADING, STAGED, KEPT
    sha256: NotRequired[str]  # once staged


class FileDoc(TypedDict):
    """An `artifacts.files` document, laid out as GridFS lays it out."""

    _id: ObjectId
    length: int
    chunkSize: int
    uploadDate: datetime
    filename: str
    metadata: FileMeta


def _oid(value: object, what: str = "artifact") -> ObjectId:
    try:
        return ObjectId(str(value))
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"{what} {value!r} not found") from exc


class ArtifactStore:
    def __init__(
        self, database: Database, limit: int = DEFAULT_MAX_BYTES, chunk_size: int = CHUNK_SIZE
    ) -> None:
        self.limit = limit  # bytes one record may hold (CYCLONE_ARTIFACTS_MAX_BYTES)
        self.files = database[f"{BUCKET}.files"]
        self.chunks = database[f"{BUCKET}.chunks"]
        self.chunk_size = chunk_size

    def ensure_indexes(self) -> None:
        self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
        self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])  # GridFS'
        self.files.create_index([("metadata.record_id", ASCENDING)])

    # --- writing (the worker of the record) ----------------------------------------------------

    def used(self, record_id: str) -> int:
        """Bytes the record holds or is uploading, in every state."""
        docs = self.files.find({"metadata.record_id": record_id}, {"length": 1})
        return sum(int(d.get("length", 0)) for d in docs)

    def begin(
        self,
        record_id: str,
        stage: str,
        path: str,
        size: int,
        mode: int,
        now: datetime,
    ) -> Upload:
        problem = rules.path_problem(path)
        if problem is None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            problem = f"size must be an integer >= 0, got {size!r}"
        if problem is None:
            problem = rules.limit_problem(path, size, self.used(record_id), self.limit)
        if problem:
            raise ArtifactRefused(problem)
        doc = FileDoc(
            _id=ObjectId(),
            length=size,
            chunkSize=self.chunk_size,
            uploadDate=now,
            filename=f"{record_id}/{path}",
            metadata=FileMeta(
                record_id=record_id,
                stage=stage,
                path=path,
                mode=rules.file_mode(mode),
                state=UPLOADING,
            ),
        )
        self.files.insert_one(doc)
        return Upload(upload=str(doc["_id"]), chunk_size=self.chunk_size)

    def _file(self, record_id: str, file_id: object, states: tuple[str, ...]) -> FileDoc:
        doc = self.files.find_one(
            {
                "_id": _oid(file_id),
                "metadata.record_id": record_id,
                "metadata.state": {"$in": list(states)},
            }
        )
        if doc is None:
            raise NotFound(f"artifact {file_id} of record {record_id} not found")
        return cast(FileDoc, doc)  # every files document is one begin() inserted

    def chunk(self, record_id: str, upload_id: str, n: int, data: bytes) -> None:
        doc = self._file(record_id, upload_id, (UPLOADING,))
        problem = rules.chunk_problem(n, len(data), doc["length"], doc["chunkSize"])
        if problem:
            raise ArtifactRefused(problem)
        with contextlib.suppress(DuplicateKeyError):  # a redelivered call: stored already
            self.chunks.insert_one({"files_id": doc["_id"], "n": n, "data": Binary(data)})

    def commit(self, record_id: str, upload_id: str, sha256: str) -> Artifact:
        """The file is complete: every chunk there, and the sha256 of what is stored (read
        back, one chunk at a time) is the one the worker computed while sending."""
        doc = self._file(record_id, upload_id, (UPLOADING, STAGED))
        if doc["metadata"]["state"] == STAGED:
            return rules.item(doc)  # committed before (a redelivered call)
        digest = hashlib.sha256()
        for data in self._chunks(doc, 0, rules.chunk_count(doc["length"], doc["chunkSize"])):
            digest.update(data)
        if digest.hexdigest() != sha256:
            self._delete_files([doc["_id"]])
            raise ArtifactRefused(
                f'artifact "{doc["metadata"]["path"]}": the stored bytes do not have the '
                "sha256 the worker sent"
            )
        self.files.update_one(
            {"_id": doc["_id"]},
            {"$set": {"metadata.state": STAGED, "metadata.sha256": sha256}},
        )
        return rules.item({**doc, "metadata": {**doc["metadata"], "sha256": sha256}})

    def _chunks(self, doc: FileDoc, first: int, last_excl: int) -> Iterator[bytes]:
        for n in range(first, last_excl):
            chunk = self.chunks.find_one({"files_id": doc["_id"], "n": n}, {"data": 1})
            if chunk is None:
                raise ArtifactRefused(f'artifact "{doc["metadata"]["path"]}" lacks chunk {n}')
            yield bytes(chunk["data"])

    def keep(self, record_id: str, stage: str, upload_ids: list[str], now: datetime) -> list[str]:
        """The stage succeeded: its staged files become kept (replacing a file an earlier
        stage kept under the same path). Returns their paths."""
        paths = []
        for upload_id in upload_ids:
            doc = self._file(record_id, upload_id, (STAGED, KEPT))
            path = doc["metadata"]["path"]
            if doc["metadata"]["state"] == STAGED:
                older = self.files.find(
                    {
                        "metadata.record_id": record_id,
                        "metadata.path": path,
                        "metadata.state": KEPT,
                        "_id": {"$ne": doc["_id"]},
                    },
                    {"_id": 1},
                )
                self._delete_files([o["_id"] for o in older])
                self.files.update_one(
                    {"_id": doc["_id"]},
                    {"$set": {"metadata.state": KEPT, "metadata.stage": stage, "uploadDate": now}},
                )
            paths.append(path)
        return paths

    def discard(self, record_id: str, stage: str) -> int:
        """What a stage uploaded but did not keep (it failed): nothing half-kept."""
        docs = self.files.find(
            {
                "metadata.record_id": record_id,
                "metadata.stage": stage,
                "metadata.state": {"$ne": KEPT},
            },
            {"_id": 1},
        )
        return self._delete_files([d["_id"] for d in docs])

    # --- reading ------------------------------------------------------------------------------

    def list(self, record_id: str, internal: bool = False) -> list[Artifact]:
        docs = self.files.find({"metadata.record_id": record_id, "metadata.state": KEPT})
        return sorted((rules.item(d, internal) for d in docs), key=lambda a: a["path"])

    def info(self, record_id: str, path: str) -> Artifact:
        doc = self.files.find_one(
            {"metadata.record_id": record_id, "metadata.path": path, "metadata.state": KEPT}
        )
        if doc is None:
            raise NotFound(f'artifact "{path}" not found in record {record_id}')
        return rules.item(doc, internal=True)

    def read(self, record_id: str, file_id: str, offset: int, length: int, most: int) -> bytes:
        doc = self._file(record_id, file_id, (KEPT,))
        problem = rules.read_problem(offset, length, doc["length"], most)
        if problem:
            raise ArtifactRefused(problem)
        length = min(length, doc["length"] - offset)
        if length == 0:
            return b""
        first, last = rules.chunks_for(offset, length, doc["chunkSize"])
        data = b"".join(self._chunks(doc, first, last + 1))
        start = offset - first * doc["chunkSize"]
        return data[start : start + length]

    # --- deleting -----------------------------------------------------------------------------

    def delete_records(self, record_ids: builtins.list[str]) -> int:
        if not record_ids:
            return 0
        docs = self.files.find({"metadata.record_id": {"$in": record_ids}}, {"_id": 1})
        return self._delete_files([d["_id"] for d in docs])

    def _delete_files(self, ids: builtins.list[ObjectId]) -> int:
        """Files documents first (readers stop seeing them), then their chunks."""
        if not ids:
            return 0
        gone = self.files.delete_many({"_id": {"$in": ids}}).deleted_count
        for file_id in ids:
            self.chunks.delete_many({"files_id": file_id})
        return gone
