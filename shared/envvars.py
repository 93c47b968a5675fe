"""One reader for the CYCLONE_* environment, with one parser per kind of value.

Every process reads its settings through `Env`; each name it reads is declared once in
`VARIABLES` (with the default and meaning README's table shows, generated from here by
`python -m tools.envtable`) or in `INTERNAL` (set by the launcher, the cloud service or the
tests, never by operators). Reading an undeclared name is a programming error (KeyError), so
a new setting cannot appear without its line in the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

TRUE: Final = ("1", "true", "yes", "on")
FALSE: Final = ("0", "false", "no", "off")


class SettingError(SystemExit):
    """A setting holds a value of the wrong kind: the process refuses to start, saying which."""


def parse_flag(name: str, raw: str, default: bool) -> bool:
    """The one boolean parser: on/off, 1/0, true/false, yes/no (any case); "" is `default`."""
    value = raw.strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingError(f"{name} must be on or off (1/0, true/false, yes/no), got {raw!r}")


@dataclass(frozen=True)
class Var:
    """A row of README's configuration table (several names when they go together)."""

    names: tuple[str, ...]
    default: str  # as operators read it (Markdown), not parsed: each reader has its own
    meaning: str


class Env:
    """Typed reads of one environment (os.environ unless given); unset and "" mean default."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = os.environ if env is None else env

    def _raw(self, name: str) -> str:
        if name not in DECLARED:
            raise KeyError(f"{name} is not declared in shared/envvars.py")
        return self._env.get(name, "").strip()

    def is_set(self, name: str) -> bool:
        return bool(self._raw(name))

    def text(self, name: str, default: str = "") -> str:
        return self._raw(name) or default

    def integer(self, name: str, default: int) -> int:
        raw = self._raw(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise SettingError(f"{name} must be an integer, got {raw!r}") from None

    def number(self, name: str, default: float) -> float:
        raw = self._raw(name)
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise SettingError(f"{name} must be a number, got {raw!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        return parse_flag(name, self._raw(name), default)


VARIABLES: Final[tuple[Var, ...]] = (
    Var(
        ("CYCLONE_PORT",),
        "`7099`",
        "gateway port (on `127.0.0.1`; `CYCLONE_HOST` changes the address)",
    ),
    Var(
        ("CYCLONE_DATA_DIR",),
        "`./.cyclone`",
        "embedded database, generated token and key, logs",
    ),
    Var(
        ("CYCLONE_AMQP_URI",),
        "`amqp://guest:guest@127.0.0.1:5672/`",
        'broker; a vhost in the path is used (and created with `rabbitmqctl` when local and missing); several nodes of one cluster `;`-separated (`amqp://u:p@n1:5672/v;amqp://u:p@n2:5672/v`): every client moves to the next when its node goes (docs/architecture.md "A broker cluster")',
    ),
    Var(
        ("CYCLONE_QUORUM_QUEUES",),
        "on when `CYCLONE_AMQP_URI` names several nodes, else off",
        'declare the durable queues (RPC, events, log ingest, retries, dead letters) as quorum queues, replicated over the cluster; switching an existing install: docs/operations.md "Quorum queues"',
    ),
    Var(
        ("CYCLONE_MONGO_URL",),
        "unset: embedded secantusdb",
        "a MongoDB URL; its path names the database (default `cyclone`)",
    ),
    Var(
        ("CYCLONE_API_TOKEN",),
        "generated into the data dir",
        "the bearer token the API requires",
    ),
    Var(
        ("CYCLONE_SECRET_KEY",),
        "generated into the data dir",
        "key that encrypts secrets at rest (a Fernet key or any passphrase)",
    ),
    Var(
        ("CYCLONE_API_WORKERS",),
        "`1`",
        'gunicorn worker processes of the gateway; one is about 80 MB of memory and serves about 1,000 requests/s on one core (docs/architecture.md "One process or several"); more use more cores',
    ),
    Var(
        ("CYCLONE_RPC_TIMEOUT",),
        "`10`",
        "seconds the gateway waits for a service",
    ),
    Var(
        ("CYCLONE_REPLICAS",),
        "unset: one of each",
        '`make run` starts this many processes of a service, e.g. `scheduler=2,logs=2,cloud=2,scm=2` (docs/architecture.md "Replicas")',
    ),
    Var(
        ("CYCLONE_RETRY_DELAYS",),
        "`1,2,4,8,16,30,60`",
        'seconds before each new try of an event whose handler failed; once all are spent the event goes to its service\'s dead-letter queue (docs/operations.md "Retries and dead letters")',
    ),
    Var(
        ("CYCLONE_ACCESS_LOG",),
        "on",
        "the gateway's access line per request (method, path with credentials masked, status, time, request id; `/healthz` and `/metrics` at DEBUG), or `off`",
    ),
    Var(
        ("CYCLONE_LOG_FORMAT",),
        "`text`",
        "every process's log lines: `text` (service name first, coloured on a terminal) or `json` (one object per line); docs/operations.md",
    ),
    Var(
        (),
        "unset: no traces",
        'an OTLP/HTTP receiver for every process\'s spans (docs/operations.md "Traces")',
    ),
    Var(
        ("CYCLONE_METRICS_PORT",),
        "unset",
        "a service serves its own Prometheus metrics on this port (a container of its own: compose and Kubernetes set 9102); under `make run` the gateway's `/metrics` has every process's",
    ),
    Var(
        ("CYCLONE_LOG_LEVEL",),
        "`INFO`",
        "`DEBUG` also shows the libraries' (nameko, kombu, uvicorn, gunicorn) own INFO lines",
    ),
    Var(
        ("CYCLONE_ARTIFACTS_MAX_BYTES",),
        "`1073741824` (1 GiB)",
        "what one record's stages may keep as artifacts in all; over it the stage fails and keeps nothing (read by the logs service)",
    ),
    Var(
        ("CYCLONE_ONE_PROCESS",),
        "`on`",
        "`make run` runs the scheduler, scm, logs and cloud services in one process (`python -m "
        "services`); `off`: a process each. A service with several replicas runs apart either "
        'way (docs/architecture.md, "One process or several")',
    ),
    Var(
        ("CYCLONE_MAX_RUNNING",),
        "`4`",
        "records running at once, across all scheduler replicas",
    ),
    Var(
        ("CYCLONE_RECORD_TIMEOUT",),
        "`7200`",
        "seconds before a running record is Aborted",
    ),
    Var(
        ("CYCLONE_RECORDS_PER_PIPELINE",),
        "`50`",
        "finished records kept per pipeline (older ones deleted with their logs)",
    ),
    Var(
        ("CYCLONE_HEARTBEAT_TIMEOUT",),
        "`30`",
        "seconds without a worker heartbeat before its record is Failed",
    ),
    Var(
        ("CYCLONE_CLOUD_CALL_TIMEOUT",),
        "`8`",
        'seconds the scheduler waits for the cloud service to start or stop a worker; a start not answered in time is asked once more (it is idempotent: a failover may have lost the answer), then the record fails ("the cloud service did not start a worker within 8s (asked twice)"); the call runs apart, so neither a POST nor the scheduler\'s upkeep waits for it',
    ),
    Var(
        ("CYCLONE_WORKER_START_TIMEOUT",),
        "`300`",
        "seconds a new worker has for its first heartbeat (a pod pulling images) before its record is Failed",
    ),
    Var(
        ("CYCLONE_WS_PING_INTERVAL", "CYCLONE_WS_PING_TIMEOUT"),
        "`20`, `20`",
        "pings on idle logstream WebSockets",
    ),
    Var(
        ("CYCLONE_DOCKER_HOST",),
        "unset",
        "a Docker engine (`unix://` or `tcp://`) for the Local cloud's image stages (Docker clouds name their own)",
    ),
    Var(
        ("CYCLONE_DOCKER_CERT_PATH", "CYCLONE_DOCKER_INSECURE"),
        "unset",
        "TLS for that engine: a folder with `ca.pem`, `cert.pem`, `key.pem`; `1` skips the server check",
    ),
    Var(
        ("CYCLONE_SONAR_SCANNER_IMAGE",),
        "`sonarsource/sonar-scanner-cli:latest`",
        "the codeScan scanner image (must be on the engine or pullable)",
    ),
    Var(
        ("CYCLONE_SONAR_WAIT", "CYCLONE_SONAR_POLL"),
        "`600`, `2`",
        "seconds to wait for SonarQube's analysis, and between questions",
    ),
    Var(
        ("CYCLONE_WORKER_IMAGE",),
        "`cyclone/worker:latest`",
        "Kubernetes clouds: image of the worker pods' `worker` container (the Dockerfile's `worker` target)",
    ),
    Var(
        ("CYCLONE_KUBE_WORKER_AMQP_URI",),
        "`CYCLONE_AMQP_URI`",
        "Kubernetes clouds: the broker URL as worker pods reach it (passed in a Secret), best with a broker user of their own with least permissions (k8s/rabbitmq.yaml)",
    ),
    Var(
        ("CYCLONE_KUBE_BUILDER_IMAGE",),
        "`busybox:stable`",
        "Kubernetes clouds: the `builder` container's image when the run names none",
    ),
    Var(
        ("CYCLONE_KUBE_DIND", "CYCLONE_KUBE_DIND_IMAGE"),
        "off, `docker:dind`",
        "Kubernetes clouds: a privileged Docker-in-Docker sidecar for image stages",
    ),
    Var(
        ("CYCLONE_KUBE_POLL_INTERVAL",),
        "`2`",
        "Kubernetes clouds: seconds between pod listings that notice ended workers",
    ),
    Var(
        ("CYCLONE_SCM_VERIFY",),
        "`on`",
        "project creates and updates check the SCM credentials against the SCM (400 `CredentialsRejected`, 502 when it does not answer); `off` skips it (the test and bench stacks, whose projects name SCMs that do not exist)",
    ),
    Var(
        ("CYCLONE_PUBLIC_URL",),
        "`http://$CYCLONE_HOST:$CYCLONE_PORT`",
        "the gateway as people and SCMs reach it: record links in notifications and commit statuses; only when set, pipelines with SCM triggers get their webhooks registered on GitHub/GitLab at this address",
    ),
    Var(
        ("CYCLONE_SMTP_HOST",),
        "unset: mails are skipped (logged)",
        "SMTP server for `email` notification receivers",
    ),
    Var(
        ("CYCLONE_SMTP_PORT",),
        "`25`",
        "its port; `465` speaks TLS from the start",
    ),
    Var(
        ("CYCLONE_SMTP_USER", "CYCLONE_SMTP_PASSWORD"),
        "unset",
        "login, when the server wants one",
    ),
    Var(
        ("CYCLONE_SMTP_FROM",),
        "`cyclone@localhost`",
        "sender address",
    ),
    Var(
        ("CYCLONE_SMTP_STARTTLS",),
        "off",
        "`1` upgrades the connection with STARTTLS before login",
    ),
    Var(
        ("CYCLONE_DELIVERY_ATTEMPTS",),
        "`5`",
        "tries per notification, commit status or tag (the first included)",
    ),
    Var(
        ("CYCLONE_DELIVERY_RETRY_BASE",),
        "`5`",
        "seconds before the second try; doubles after each failure (at most 300)",
    ),
    Var(
        ("CYCLONE_DELIVERY_TIMEOUT",),
        "`10`",
        "seconds per webhook request or SMTP conversation",
    ),
    Var(
        ("CYCLONE_HOST",),
        "`127.0.0.1`",
        "the address the gateway listens on",
    ),
    Var(
        ("CYCLONE_WORKSPACES",),
        "`$CYCLONE_DATA_DIR/workspaces`",
        "the Local cloud's build workspaces, one folder per record",
    ),
    Var(
        ("CYCLONE_FORK_SERVER",),
        "`on`",
        "the workers of Local and Docker clouds are forked from a process that has imported "
        "them once (`off`: each record starts a fresh interpreter)",
    ),
    Var(
        ("CYCLONE_DOCKER_SPARES",),
        "`1`",
        "builder containers a Docker cloud keeps started ahead for each of the last 4 builder "
        "images its records used (0-8; `0`: none): a record without a quota takes one instead "
        "of starting its own",
    ),
    Var(
        ("CYCLONE_WORKER_NICE",),
        "`10`",
        "the niceness a Local cloud's worker gives itself and its build's commands (0-19; `0` "
        "keeps the services' own): on a busy host the API, the scheduler and the database come "
        "first",
    ),
    Var(
        ("CYCLONE_BUILD_USER",),
        "`cyclone-build` when the services run as root, else the services' own user",
        "who a Local cloud's build commands run as (made when missing); set it empty to run "
        "them as the services' user, which can read their keys (docs/security.md)",
    ),
    Var(
        ("CYCLONE_RABBITMQ_API",),
        "unset",
        "`python -m tools.broker_users`: the RabbitMQ management API of a deployed broker",
    ),
)
INTERNAL: Final[tuple[str, ...]] = (
    "CYCLONE_REPLICA",  # which process of its service this is (the launcher sets it)
    "CYCLONE_CRON_PER_SECOND",  # tests: cron expressions with a seconds field
    "CYCLONE_LOCAL_WORKER_CMD",  # tests and benches: the Local cloud's worker command
    "CYCLONE_KUBE_API_URL",  # tests: a worker pod's API server as a plain URL
    "CYCLONE_DEBUG",  # the CLI: tracebacks on failures
    # prometheus_client's multiprocess folder (the launcher or the gateway sets it; the gateway
    # reads it for its /metrics)
    "PROMETHEUS_MULTIPROC_DIR",
)
DECLARED: Final = frozenset(n for v in VARIABLES for n in v.names) | frozenset(INTERNAL)


def table() -> str:
    """README's configuration table, in Markdown."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for var in VARIABLES:
        names = ", ".join(f"`{n}`" for n in var.names)
        rows.append(f"| {names} | {var.default} | {var.meaning} |")
    return "\n".join(rows) + "\n"
