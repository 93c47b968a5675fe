"""The launch environment: what the cloud service tells a worker it starts, written once.

A worker (a process on the cloud service's host for the Local and Docker clouds, a pod's
`worker` container on Kubernetes) learns from its environment, before it asks for its job,
which record it runs, how it reaches the broker and proves itself, and where its stages'
commands run. The drivers (services/cloud/backends) build a `WorkerLaunch` and write it with
`to_env()`; the worker reads it back with `WorkerLaunch.from_env()` (services/worker). The
variable names below are the only spelling of these names in either of them.

A pod takes the variables of `SECRET` (they carry credentials) from a Secret, and `POD_NAME`
and `POD_NAMESPACE` from the downward API; everything else is plain environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from shared import brokers, dockerengine, tracing, workertoken
from shared.contracts.catalog import DockerSection

# The cloud types, as stored clouds name them (`Cloud.type`). Both sides choose by it: the
# cloud service its backend (services/cloud/backends), the worker its executor
# (services/worker/executors).
CloudType = Literal["Local", "Docker", "Kubernetes"]
CLOUD_TYPES: Final[tuple[CloudType, ...]] = get_args(CloudType)

# --- the variables -----------------------------------------------------------------------------

RECORD_ID: Final = "CYCLONE_RECORD_ID"  # the record the worker runs (also in its argv)
AMQP_URI: Final = "CYCLONE_AMQP_URI"  # the broker, with the workers' credentials
TOKEN: Final = workertoken.TOKEN_ENV  # proves the record on get_job and every report
QUORUM_QUEUES: Final = brokers.QUORUM_ENV  # on/off: the log ingest queue's type
EXECUTOR: Final = "CYCLONE_EXECUTOR"  # where commands run: the cloud type, lower case
CLOUD: Final = "CYCLONE_WORKER_CLOUD"  # the cloud's name, labelled on what it makes on an engine
HOST: Final = "CYCLONE_WORKER_HOST"  # the cloud service replica that started it (labels too)
BUILD_USER: Final = "CYCLONE_BUILD_USER"  # host commands run as this user
DOCKER_HOST: Final = dockerengine.HOST_ENV  # the Docker engine of the image stages (and
DOCKER_CERT_PATH: Final = dockerengine.CERT_PATH_ENV  # of the builder container on a Docker
DOCKER_INSECURE: Final = dockerengine.INSECURE_ENV  # cloud)
TRACEPARENT: Final = tracing.ENV  # the worker's spans are children of its start
WORKSPACE: Final = "CYCLONE_WORKSPACE"  # a pod's shared workspace volume
BUILDER_CONTAINER: Final = "CYCLONE_BUILDER_CONTAINER"  # the pod's container running commands
SPARE_BUILDER: Final = "CYCLONE_SPARE_BUILDER"  # a started builder container to take (Docker)
POD_NAME: Final = "CYCLONE_POD_NAME"  # the worker's own pod (downward API)
POD_NAMESPACE: Final = "CYCLONE_POD_NAMESPACE"

NAMES: Final = (
    RECORD_ID,
    AMQP_URI,
    TOKEN,
    QUORUM_QUEUES,
    EXECUTOR,
    CLOUD,
    HOST,
    BUILD_USER,
    DOCKER_HOST,
    DOCKER_CERT_PATH,
    DOCKER_INSECURE,
    TRACEPARENT,
    WORKSPACE,
    BUILDER_CONTAINER,
    SPARE_BUILDER,
    POD_NAME,
    POD_NAMESPACE,
)
SECRET: Final = frozenset({AMQP_URI, TOKEN})  # a pod reads these from its Secret


class LaunchError(ValueError):
    """The launch environment holds a value the worker cannot use."""


@dataclass(frozen=True)
class WorkerLaunch:
    """The launch environment as values. Empty fields are not written (a pod gets its broker
    URL and token from a Secret, a Local worker no pod name); `from_env` reads them as empty."""

    cloud_type: CloudType = "Local"  # EXECUTOR: which executor runs the stages' commands
    record_id: str = ""
    amqp_uri: str = ""
    token: str = ""
    quorum_queues: bool | None = None  # None: unset (the worker decides from the URI)
    cloud: str = ""
    host: str = ""
    build_user: str = ""
    docker: DockerSection | None = None  # the engine: host, certPath, insecure
    traceparent: str = ""
    workspace: str = ""
    builder_container: str = ""
    spare_builder: str = ""  # a spare's container name, for the Docker executor to take
    pod_name: str = ""
    pod_namespace: str = ""

    def to_env(self, *, secret: bool | None = None) -> dict[str, str]:
        """The variables, by name; only those with a value. `secret`: only those of `SECRET`
        (True) or all but those (False), for a pod's Secret and its plain environment."""
        quorum = {None: "", True: brokers.ON, False: brokers.OFF}[self.quorum_queues]
        docker = self.docker or DockerSection()
        engine = dockerengine.section_to_env(docker) if docker.get("host") else {}
        values = {
            RECORD_ID: self.record_id,
            AMQP_URI: self.amqp_uri,
            TOKEN: self.token,
            QUORUM_QUEUES: quorum,
            EXECUTOR: self.cloud_type.lower(),
            CLOUD: self.cloud,
            HOST: self.host,
            BUILD_USER: self.build_user,
            **engine,
            TRACEPARENT: self.traceparent,
            WORKSPACE: self.workspace,
            BUILDER_CONTAINER: self.builder_container,
            SPARE_BUILDER: self.spare_builder,
            POD_NAME: self.pod_name,
            POD_NAMESPACE: self.pod_namespace,
        }
        return {
            name: value
            for name, value in values.items()
            if value and (secret is None or (name in SECRET) == secret)
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerLaunch:
        """The launch a worker was given; LaunchError for a value it cannot use."""

        def text(name: str) -> str:
            return env.get(name, "").strip()

        try:
            quorum = brokers.quorum_wanted(env, "") if text(QUORUM_QUEUES) else None
        except SystemExit as exc:
            raise LaunchError(str(exc)) from None
        return cls(
            cloud_type=cloud_type_of(text(EXECUTOR)),
            record_id=text(RECORD_ID),
            amqp_uri=text(AMQP_URI),
            token=env.get(TOKEN, ""),
            quorum_queues=quorum,
            cloud=text(CLOUD),
            host=text(HOST),
            build_user=text(BUILD_USER),
            docker=docker_section(env),
            traceparent=text(TRACEPARENT),
            workspace=text(WORKSPACE),
            builder_container=text(BUILDER_CONTAINER),
            spare_builder=text(SPARE_BUILDER),
            pod_name=text(POD_NAME),
            pod_namespace=text(POD_NAMESPACE),
        )


def cloud_type_of(executor: str) -> CloudType:
    """The cloud type an EXECUTOR value names (any case); none names the Local cloud."""
    if not executor:
        return "Local"
    for cloud_type in CLOUD_TYPES:
        if cloud_type.lower() == executor.lower():
            return cloud_type
    raise LaunchError(f"{EXECUTOR} names no cloud type this worker knows: {executor!r}")


def docker_section(env: Mapping[str, str]) -> DockerSection | None:
    """The Docker engine the DOCKER_* variables name (shared/dockerengine.py), if any."""
    section = dockerengine.section_from_env(env)
    if section is None:
        return None
    return DockerSection(
        host=str(section["host"]),
        certPath=str(section["certPath"]),
        insecure=bool(section["insecure"]),
    )


# --- a hand-off to the fork server -------------------------------------------------------------
# The fork server (services/worker/forkserver.py) is started before any record is known, and is
# handed each record in one message on its stdin, a Unix socket: what a cold worker gets from
# its Popen. The cloud service writes it (services/cloud/backends/forkserver.py), the server
# reads it and forks the record's worker; the record's log file travels beside it as a
# descriptor, and so does the record's job (rpc.Job as JSON, in an anonymous file) when the
# scheduler sent it with the start: the server gives its worker `--job-fd <n>`, and the
# worker reads its job there instead of asking get_job.

FORK_SERVER_FLAG: Final = "--fork-server"  # the worker's argument that makes it the server
JOB_FD_FLAG: Final = "--job-fd"  # the worker's argument naming the descriptor of its job
HANDOFF_MAX: Final = 1 << 20  # bytes: a hand-off is a few KB (the service's environment)


@dataclass(frozen=True)
class Handoff:
    """The record a forked worker runs."""

    argv: list[str]  # the worker's arguments (`--record-id <id>`)
    cwd: str  # the record's workspace
    env: dict[str, str]  # the record's whole environment, its launch included

    def encode(self) -> bytes:
        return json.dumps({"argv": self.argv, "cwd": self.cwd, "env": self.env}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Handoff:
        """The hand-off in a message; ValueError when it is not one."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("a hand-off is a JSON object")
        argv, cwd, env = raw.get("argv"), raw.get("cwd"), raw.get("env")
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            raise ValueError("argv must be a list of strings")
        if not isinstance(cwd, str) or not cwd:
            raise ValueError("cwd must be a path")
        if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
            raise ValueError("env must map names to strings")
        return cls(argv, cwd, {str(k): v for k, v in env.items()})
