"""The catalog documents a run carries: a project and a pipeline, as JSON on the bus.

The gateway validates bodies against services/api/domain/schemas.py (JSON Schema, unknown
fields refused) and stores them; what crosses the bus is that document with `_id` as `id`,
times as RFC 3339 strings and every secret still sealed (services/api/views.py `snapshot`).
These TypedDicts are that shape, for the type checker and for the boundary checks of
shared/contracts/boundary.py. Every section is optional (`total=False`) except where the
schema requires it: a reader must still handle a section that is absent.
"""

from __future__ import annotations

from typing import Final

from typing_extensions import TypedDict

# --- projects -------------------------------------------------------------------------------


class ScmSection(TypedDict, total=False):
    type: str  # "Github" | "Gitlab" | "SVN"
    server: str
    username: str
    password: str  # sealed at rest and on the bus
    token: str  # sealed
    authType: str  # "Password" | "Token"


class RegistrySection(TypedDict, total=False):
    server: str
    repository: str
    username: str
    password: str  # sealed


class WorkerLocation(TypedDict, total=False):
    cloudName: str
    namespace: str


class DependencyCache(TypedDict):
    name: str


class WorkerSection(TypedDict, total=False):
    location: WorkerLocation
    namespace: str
    dependencyCaches: dict[str, DependencyCache]
    quota: dict[str, str]  # requests.cpu, limits.memory, ... as Kubernetes quantities


class Project(TypedDict, total=False):
    id: str
    name: str
    alias: str
    description: str
    owner: str
    scm: ScmSection
    registry: RegistrySection
    worker: WorkerSection
    creationTime: str
    lastUpdateTime: str


# --- pipelines ------------------------------------------------------------------------------


class RepoSource(TypedDict, total=False):
    """One provider's part of a code source (`github`, `gitlab`, `svn`, `otherCodeSource`)."""

    url: str
    ref: str
    path: str  # otherCodeSource only
    username: str  # svn and otherCodeSource
    password: str  # sealed


class CodeSource(TypedDict, total=False):
    type: str  # "Github" | "Gitlab" | "SVN" | "other"
    github: RepoSource
    gitlab: RepoSource
    svn: RepoSource
    otherCodeSource: RepoSource


class DepSource(CodeSource, total=False):
    folder: str


class CodeCheckout(TypedDict, total=False):
    mainRepo: CodeSource
    depRepos: list[DepSource]


class ScriptStage(TypedDict, total=False):
    """unitTest and package: commands run in the builder image, then outputs collected."""

    command: list[str]
    outputs: list[str]
    allowFailure: bool


class SonarConfig(TypedDict, total=False):
    sourcePath: str
    encodingStyle: str
    language: str
    threshold: str | int


class SonarqubeServer(TypedDict, total=False):
    description: str
    address: str
    token: str  # sealed (decrypted in a worker's job)
    user: str


class Integration(TypedDict, total=False):
    """A SonarQube server the gateway keeps (its `integrations`), as stored and answered."""

    id: str
    name: str
    alias: str
    type: str  # "SonarQube"
    sonarqube: SonarqubeServer
    creationTime: str
    lastUpdateTime: str


class Sonarqube(TypedDict, total=False):
    name: str  # the integration's name
    config: SonarConfig
    # In a run's snapshot only: the integration `name` names, embedded by the gateway when
    # the run starts (its token sealed), so the worker gets server and token with its job;
    # None when no integration has that name (the stage fails saying so).
    integration: Integration | None


class CodeScanStage(ScriptStage, total=False):
    sonarqube: Sonarqube


class BuildInfo(TypedDict, total=False):
    taskName: str
    contextDir: str
    dockerfile: str
    dockerfilePath: str
    imageName: str


class ImageBuildStage(TypedDict, total=False):
    buildInfos: list[BuildInfo]
    allowFailure: bool


class EnvVar(TypedDict, total=False):
    name: str
    value: str  # sealed when `secret`
    secret: bool


class IntegrationConfig(TypedDict, total=False):
    imageName: str
    command: list[str]
    envVars: list[EnvVar]


class IntegrationService(TypedDict, total=False):
    name: str
    image: str
    command: list[str]
    envVars: list[EnvVar]


class IntegrationTestStage(TypedDict, total=False):
    config: IntegrationConfig
    services: list[IntegrationService]
    allowFailure: bool


class ReleasePolicy(TypedDict, total=False):
    imageName: str
    type: str  # "Always" | "IntegrationTestSuccess"


class ImageReleaseStage(TypedDict, total=False):
    releasePolicies: list[ReleasePolicy]
    allowFailure: bool


class PipelineStages(TypedDict, total=False):
    codeCheckout: CodeCheckout
    unitTest: ScriptStage
    codeScan: CodeScanStage
    package: ScriptStage
    imageBuild: ImageBuildStage
    integrationTest: IntegrationTestStage
    imageRelease: ImageReleaseStage


class BuilderImage(TypedDict, total=False):
    image: str
    envVars: list[EnvVar]


class Build(TypedDict, total=False):
    builderImage: BuilderImage
    stages: PipelineStages
    buildInfo: dict[str, object]  # legacy buildTool/cacheDependency hints, kept as given


class StagesTrigger(TypedDict, total=False):
    stages: list[str]


class PushTrigger(StagesTrigger, total=False):
    branches: list[str]


class CommentTrigger(StagesTrigger, total=False):
    comments: list[str]


class SvnRepoRef(TypedDict, total=False):
    id: str  # the repository UUID
    rootURL: str


class PostCommitTrigger(StagesTrigger, total=False):
    repoInfo: SvnRepoRef  # set by the gateway from the SCM when saved


class Webhook(TypedDict):
    """The hook registered on the SCM for a pipeline (set by the gateway, never by users)."""

    id: str
    repo: str
    url: str


class ScmTrigger(TypedDict, total=False):
    push: PushTrigger
    tagRelease: StagesTrigger
    pullRequest: StagesTrigger
    pullRequestComment: CommentTrigger
    postCommit: PostCommitTrigger
    webhookSecret: str  # sealed
    forkSecrets: bool
    webhook: Webhook


class CronEntry(TypedDict, total=False):
    expression: str
    stages: list[str]


class CronTrigger(TypedDict, total=False):
    crons: list[CronEntry]


class AutoTrigger(TypedDict, total=False):
    cronTrigger: CronTrigger
    scmTrigger: ScmTrigger


class Receiver(TypedDict, total=False):
    type: str  # "email" | "webhook" | "slack"
    addresses: list[str]  # sealed where they are credentials (webhook and Slack URLs)
    groups: list[str]


class Notification(TypedDict, total=False):
    policy: str  # one of NOTIFICATION_POLICIES
    receivers: list[Receiver]


class Pipeline(TypedDict, total=False):
    id: str
    projectID: str
    name: str
    alias: str
    description: str
    owner: str
    build: Build
    autoTrigger: AutoTrigger
    notification: Notification
    annotations: dict[str, str]
    creationTime: str
    lastUpdateTime: str


# --- clouds ---------------------------------------------------------------------------------


class DockerSection(TypedDict, total=False):
    host: str  # unix:// or tcp://
    certPath: str
    insecure: bool


class KubeTls(TypedDict, total=False):
    insecure: bool
    caFile: str
    caData: str


class KubernetesSection(TypedDict, total=False):
    host: str
    namespace: str
    bearerToken: str  # sealed
    username: str
    password: str  # sealed
    inCluster: bool
    tlsClientConfig: KubeTls


class Cloud(TypedDict, total=False):
    """A cloud as the cloud service stores and answers it (secrets sealed)."""

    id: str
    name: str
    type: str  # a key of the cloud service's backend registry: Local, Docker, Kubernetes
    docker: DockerSection
    kubernetes: KubernetesSection
    creationTime: str
    lastUpdateTime: str


class Snapshot(TypedDict):
    """The catalog as it was when a run was triggered (stored on the record)."""

    project: Project
    pipeline: Pipeline


# --- rules on these documents, written once ---------------------------------------------------

SCM_TYPES: Final = ("Github", "Gitlab", "SVN")
CODE_SOURCE_TYPES: Final = ("Github", "Gitlab", "SVN", "other")
# scmTrigger keys that come from GitHub/GitLab webhooks (postCommit comes from an SVN hook).
WEBHOOK_EVENTS: Final = ("push", "tagRelease", "pullRequest", "pullRequestComment")
NOTIFICATION_POLICIES: Final = ("Always", "Success", "Failure")
RECEIVER_TYPES: Final = ("email", "webhook", "slack")


def repo_section(source: CodeSource) -> RepoSource:
    """The section of a code source holding the repository of its `type` ({} when absent)."""
    kind = source.get("type", "")
    if kind == "Github":
        return source.get("github", {})
    if kind == "Gitlab":
        return source.get("gitlab", {})
    if kind == "SVN":
        return source.get("svn", {})
    if kind == "other":
        return source.get("otherCodeSource", {})
    return {}


def main_repo(pipeline: Pipeline) -> CodeSource:
    """The pipeline's main code source ({} when the pipeline names none)."""
    return pipeline.get("build", {}).get("stages", {}).get("codeCheckout", {}).get("mainRepo", {})
