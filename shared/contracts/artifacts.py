"""Artifacts: files a stage's `outputs` named, kept by the logs service in MongoDB GridFS.

Both directions are RPC calls carrying one chunk each (base64 in nameko's JSON), so a file is
never whole in any process and each chunk is stored before the next ones are sent (the worker
keeps at most `WINDOW` calls in flight: backpressure without a queue of megabytes in the
broker). Calls a worker makes carry its record's worker token (as `get_job` does) or, to read
another record's artifacts for a rerun, a read grant the scheduler gave it
(shared/workertoken.py). The gateway's calls (list, info, read) carry no token: only services
may call them (k8s/rabbitmq.yaml gives workers no route to them).
"""

from typing import Final, NotRequired, Protocol

from typing_extensions import TypedDict

CHUNK_SIZE: Final = 1024 * 1024  # bytes per stored chunk and per call; the last may be short
WINDOW: Final = 4  # chunk calls a worker keeps in flight
MAX_READ: Final = 2 * CHUNK_SIZE  # the largest `read_artifact` answer
MAX_BYTES_ENV: Final = "CYCLONE_ARTIFACTS_MAX_BYTES"
DEFAULT_MAX_BYTES: Final = 1024**3  # per record

# Worker calls (token or grant checked): the only artifact routes a worker's broker user has.
BEGIN: Final = "artifact_begin"
CHUNK: Final = "artifact_chunk"
COMMIT: Final = "artifact_commit"
KEEP: Final = "artifact_keep"
DISCARD: Final = "artifact_discard"
MANIFEST: Final = "artifact_manifest"
FETCH: Final = "artifact_fetch"
WORKER_CALLS: Final = (BEGIN, CHUNK, COMMIT, KEEP, DISCARD, MANIFEST, FETCH)

# Gateway calls.
LIST: Final = "list_artifacts"
INFO: Final = "artifact_info"
READ: Final = "read_artifact"


class Artifact(TypedDict):
    """One kept file, as the API lists it (`id` and `mode` are for services, not clients)."""

    path: str  # relative to the code directory, `/`-separated
    size: int
    sha256: str
    stage: str
    creationTime: str
    id: NotRequired[str]
    mode: NotRequired[int]  # permission bits (0o755 for an executable), restored on reruns


class Upload(TypedDict):
    upload: str  # the file's id while it is written
    chunk_size: int


class Kept(TypedDict):
    """What a reused stage kept, as the rerun record stores it (the grant comes with the job)."""

    stage: str
    record: str  # the record that ran the stage and keeps the files
    paths: list[str]


class Pin(TypedDict, total=False):
    """The commits a rerun checks out: the original's git sha or svn revision."""

    mainRepo: str
    depRepos: list[str]


class Restore(TypedDict):
    """In a rerun's job: the kept files of a reused stage, where they are and the right to
    read them (a grant for the reader's record, shared/workertoken.py)."""

    stage: str
    record: str  # the record that ran the stage and keeps the files
    paths: list[str]
    grant: str


class ArtifactsRpc(Protocol):
    """The logs service's artifact calls from workers (WORKER_CALLS): each carries the
    record's worker token; a rerun's reads carry the reader's token and a grant for the
    source record."""

    def artifact_begin(
        self, record_id: str, token: str, stage: str, path: str, size: int, mode: int
    ) -> Upload: ...
    def artifact_chunk(
        self, record_id: str, token: str, upload: str, n: int, data: str
    ) -> None: ...  # data: base64
    def artifact_commit(self, record_id: str, token: str, upload: str, sha256: str) -> Artifact: ...
    def artifact_keep(
        self, record_id: str, token: str, stage: str, uploads: list[str]
    ) -> list[str]: ...
    def artifact_discard(self, record_id: str, token: str, stage: str) -> int: ...
    def artifact_manifest(
        self, source_id: str, reader_id: str, token: str, grant: str
    ) -> list[Artifact]: ...
    def artifact_fetch(
        self,
        source_id: str,
        reader_id: str,
        token: str,
        grant: str,
        file_id: str,
        offset: int,
        length: int,
    ) -> str: ...  # base64


class ArtifactReadsRpc(Protocol):
    """The logs service's artifact calls from the gateway: no token, since workers have no
    route to them (k8s/rabbitmq.yaml)."""

    def list_artifacts(self, record_id: str) -> list[Artifact]: ...
    def artifact_info(self, record_id: str, path: str) -> Artifact: ...
    def read_artifact(self, record_id: str, file_id: str, offset: int, length: int) -> str: ...
