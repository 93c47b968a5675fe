"""RPC methods each resident service answers, and the shapes they take and return.

Every payload is plain JSON (nameko's json serializer): ids are 24-hex strings, times are
RFC 3339 strings (shared/timefmt.py).
"""

from __future__ import annotations

from typing import Final, NotRequired, Protocol

from typing_extensions import TypedDict

from shared.contracts.artifacts import ArtifactReadsRpc, ArtifactsRpc, Pin, Restore
from shared.contracts.catalog import Cloud, Pipeline, Project
from shared.contracts.records import PerformParams, RecordView, Stats

PING: Final = "ping"


class PingReply(TypedDict):
    service: str
    status: str
    pid: int


class Pingable(Protocol):
    """Every resident service answers `ping`; /healthz and readiness probes call it."""

    def ping(self) -> PingReply: ...


# --- scheduler ------------------------------------------------------------------------------

CREATE_RECORD: Final = "create_record"
GET_RECORD: Final = "get_record"
LIST_RECORDS: Final = "list_records"
DELETE_RECORD: Final = "delete_record"
ABORT_RECORD: Final = "abort_record"
RECENT_RECORDS: Final = "recent_records"
STATS: Final = "stats"
GET_JOB: Final = "get_job"
RERUN_RECORD: Final = "rerun_record"


class RecordRequest(TypedDict):
    """What the gateway sends to start a run: snapshots of the catalog as it is now.

    `project` and `pipeline` are the stored documents (secrets still encrypted, `_id` as
    `id`); the run uses them as they were when it was triggered.
    """

    project: Project
    pipeline: Pipeline
    params: PerformParams
    trigger: str  # "user" | "scmTrigger" | "cronTrigger"
    owner: str
    # Set (by the scm service only) for a run of a fork's pull request: why it must not get
    # the project's secrets (services/scm/domain/trust.py). Absent: trusted.
    untrusted: NotRequired[str]
    # One per request the gateway makes: a create_record delivered again (the scheduler that
    # took it died before answering) answers the record the first delivery made.
    key: NotRequired[str]
    # True when a client or a provider chose the key (Idempotency-Key, a delivery id): their
    # retries are common, so the scheduler looks it up before numbering a record. A key of the
    # gateway's own comes again only with a redelivered call, which the insert's unique index
    # catches (its number is given back as a hole); looking it up cost every POST a read.
    key_given: NotRequired[bool]


class Page(TypedDict):
    total: int
    items: list[RecordView]


class Job(TypedDict):
    """What a worker needs to run a record (scheduler.get_job), secrets decrypted."""

    record_id: str
    record_name: str
    project: Project
    pipeline: Pipeline
    params: PerformParams
    stages: list[str]  # in execution order
    # An untrusted record's job: why, and the secrets withheld from it (dotted paths such as
    # "project.registry.password"; their values are ""). The worker skips the stages that
    # need them (services/worker/domain.py `skip_reason`).
    untrusted: NotRequired[str]
    withheld: NotRequired[list[str]]
    # A rerun (`rerunOf`): stages reused from earlier records (not run again), the artifacts
    # they kept to restore after checkout (shared/contracts/artifacts.Restore), and the
    # commits to check out.
    reused: NotRequired[list[str]]
    restore: NotRequired[list[Restore]]
    pin: NotRequired[Pin]
    # The scheduler takes the last stage's end inside RUN_FINISHED (events.RunFinished.stage)
    # rather than as a STAGE_FINISHED of its own: a worker sends it so only when told, so
    # either may be older than the other.
    end_takes_stage: NotRequired[bool]
    # ...and each earlier stage's end inside the next stage's STAGE_STARTED
    # (events.StageStarted.previous), on the same terms.
    start_takes_stage: NotRequired[bool]


class SchedulerRpc(Protocol):
    def create_record(self, request: RecordRequest) -> RecordView: ...
    def get_record(self, record_id: str) -> RecordView: ...
    def list_records(self, pipeline_id: str, start: int, limit: int) -> Page: ...
    def delete_record(self, record_id: str) -> None: ...
    def abort_record(self, record_id: str) -> RecordView: ...
    def recent_records(
        self, pipeline_ids: list[str], counts: dict[str, int]
    ) -> dict[str, dict[str, list[RecordView]]]: ...
    def stats(self, scope: str, scope_id: str, start: int, end: int) -> Stats: ...
    def get_job(self, record_id: str, token: str) -> Job: ...
    def rerun_record(
        self, record_id: str, start_from: str, project: Project, owner: str
    ) -> RecordView: ...  # NotFound; Conflict while active or nothing failed


# --- cloud ----------------------------------------------------------------------------------

START_WORKER: Final = "start_worker"
STOP_WORKER: Final = "stop_worker"
LIST_WORKERS: Final = "list_workers"


class Placement(TypedDict, total=False):
    """Where a record runs: the project's `worker` section (cloud name, namespace, quota), and
    the pipeline's builder image (`build.builderImage.image`; on Kubernetes the pod's
    `builder` container)."""

    cloudName: str
    namespace: str
    quota: dict[str, str]
    builderImage: str


class HandedJob(TypedDict):
    """A record's job sent with the start of its worker, so that a worker the cloud service
    can hand it to (a forked one on its host) need not ask `get_job`: `sent` is the
    scheduler's time.time() when it sent it. The cloud service hands on only a job sent
    moments ago (services/cloud/domain.py `job_fresh`): the scheduler gives a start up after
    `cloud_call_timeout` and fails the record, and a worker started later must then ask, to be
    refused."""

    job: Job
    sent: float


class WorkerInfo(TypedDict):
    """The spec's WorkerInstance, plus where it runs."""

    name: str
    status: str
    creationTime: str
    lastUpdateTime: str
    projectName: str
    pipelineName: str
    recordID: str
    cloud: str
    namespace: NotRequired[str]  # Kubernetes workers: the pod's namespace


CREATE_CLOUD: Final = "create_cloud"
GET_CLOUD: Final = "get_cloud"
LIST_CLOUDS: Final = "list_clouds"
REPLACE_CLOUD: Final = "replace_cloud"
DELETE_CLOUD: Final = "delete_cloud"
PING_CLOUD: Final = "ping_cloud"


class PingResult(TypedDict, total=False):
    status: str  # "ok" | "error"
    version: str  # what the cloud reports (Docker engine version, ...)
    message: str  # why, when not ok


class CloudRpc(Protocol):
    """Clouds are validated and their secrets sealed by the gateway (the API's rules); the
    cloud service stores them (`id`, times as RFC 3339 strings) and decrypts to use them."""

    def create_cloud(self, doc: Cloud) -> Cloud: ...  # Conflict on name
    def get_cloud(self, name: str) -> Cloud: ...  # NotFound
    def list_clouds(self) -> list[Cloud]: ...
    def replace_cloud(self, name: str, doc: Cloud) -> Cloud: ...  # NotFound
    def delete_cloud(self, name: str) -> None: ...  # NotFound; Conflict while workers run
    def ping_cloud(self, name: str) -> PingResult: ...  # NotFound
    def start_worker(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        job: HandedJob | None = None,
    ) -> WorkerInfo: ...
    def stop_worker(self, record_id: str) -> bool: ...
    def list_workers(self, cloud: str | None = None) -> list[WorkerInfo]: ...


# --- scm ------------------------------------------------------------------------------------

SVN_REPO_INFO: Final = "svn_repo_info"
RECEIVE_WEBHOOK: Final = "receive_webhook"


class WebhookDelivery(TypedDict):
    """A GitHub or GitLab delivery for one pipeline, as the gateway received it.

    Sent only once the gateway verified its signature (X-Hub-Signature-256 / X-Gitlab-Token)
    with the pipeline's secret: neither the signature nor the secret crosses the bus.
    """

    provider: str  # "github" | "gitlab"
    event: str  # X-GitHub-Event / X-Gitlab-Event
    delivery_id: str  # X-GitHub-Delivery / X-Gitlab-Event-UUID ("" when absent)
    body: str  # the raw body as received (at most 5 MiB)
    project: Project  # snapshots, for the run it may start (secrets sealed)
    pipeline: Pipeline


class WebhookOutcome(TypedDict, total=False):
    status: str  # "started" | "ignored" | "refused" | "duplicate"
    reason: str
    record: str  # the started record's id
    untrusted: str  # why the started run goes without the project's secrets


class SvnRepoInfo(TypedDict):
    """What identifies an SVN repository to its post-commit hook."""

    id: str  # the repository UUID (`svnlook uuid`)
    rootURL: str  # the repository root URL


SCM_CHECK: Final = "scm_check"
SCM_REPOS: Final = "scm_repos"
SCM_BRANCHES: Final = "scm_branches"
SCM_TAGS: Final = "scm_tags"
SCM_TEMPLATE_TYPE: Final = "scm_template_type"
SCM_DOCKERFILES: Final = "scm_dockerfiles"
CREATE_WEBHOOK: Final = "create_webhook"
UPDATE_WEBHOOK: Final = "update_webhook"
DELETE_WEBHOOK: Final = "delete_webhook"
SCM_SECRETS: Final = ("scm.password", "scm.token")  # for @rpc(sensitive_arguments=...)


class ScmAccount(TypedDict, total=False):
    """A project's `scm` section with its secrets in plain text (decrypted by the caller)."""

    type: str  # "Github" | "Gitlab" | "SVN"
    server: str
    username: str
    password: str
    token: str


class RepoItem(TypedDict):
    name: str  # "owner/name"; GitLab "group/sub/name"; SVN the repository's last path part
    url: str  # clone URL


class ScmRpc(Protocol):
    """`repo` is "owner/name" (GitLab: the project path; SVN: a URL in the repository).

    Errors: CredentialsRejected (the SCM refused the credentials), PermissionDenied (they lack
    a right, e.g. admin for webhooks), NotFound (no such repository for them), Unreachable
    (no answer, or the SCM failed), InvalidRequest (anything else the SCM refused).
    Webhook `events` are scmTrigger keys: push, tagRelease, pullRequest, pullRequestComment.
    """

    def svn_repo_info(self, url: str, username: str, password: str) -> SvnRepoInfo: ...
    # InvalidRequest with svn's own message when the repository cannot be read
    def receive_webhook(self, delivery: WebhookDelivery) -> WebhookOutcome: ...

    # InvalidRequest for a malformed payload (the gateway checked the signature)
    def scm_check(self, scm: ScmAccount) -> dict[str, str]: ...  # {"login": ...}
    def scm_repos(self, scm: ScmAccount) -> list[RepoItem]: ...
    def scm_branches(self, scm: ScmAccount, repo: str) -> list[str]: ...
    def scm_tags(self, scm: ScmAccount, repo: str) -> list[str]: ...
    def scm_template_type(self, scm: ScmAccount, repo: str) -> str: ...
    def scm_dockerfiles(self, scm: ScmAccount, repo: str) -> list[str]: ...
    def create_webhook(
        self, scm: ScmAccount, repo: str, url: str, secret: str, events: list[str]
    ) -> str: ...  # the hook id
    def update_webhook(
        self, scm: ScmAccount, repo: str, hook_id: str, url: str, secret: str, events: list[str]
    ) -> str: ...  # the hook id (a new one when the old was gone)
    def delete_webhook(self, scm: ScmAccount, repo: str, hook_id: str) -> None: ...


# --- logs -----------------------------------------------------------------------------------

READ_LOG: Final = "read_log"
LOG_STAGES: Final = "log_stages"


class LogChunk(TypedDict):
    """Up to `limit` lines after line number `after` (1-based line numbers)."""

    lines: list[str]
    next: int  # pass as `after` to continue
    complete: bool  # the worker's end-of-log marker is stored and every line was read


class LogsRpc(Protocol):
    def read_log(
        self, record_id: str, stage: str | None, task: str | None, after: int, limit: int
    ) -> LogChunk: ...
    def log_stages(self, record_id: str) -> list[str]: ...


# the logs service's other Protocols, declared beside their shapes
__all__ = ["ArtifactReadsRpc", "ArtifactsRpc"]
