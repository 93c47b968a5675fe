"""The services' Prometheus metrics, and how a process serves them.

On one host (`make run`, the test stacks) every process writes its values into the directory
PROMETHEUS_MULTIPROC_DIR (the launcher sets and empties it at start) and the gateway's
`/metrics` serves the sum of all of them: one scrape target for the whole stack. In
Kubernetes each pod has its own: a service then serves its own values on CYCLONE_METRICS_PORT
(the manifests set 9102 and the scrape annotations). docs/operations.md lists every metric.
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram

from shared.envvars import Env

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LONG = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

# --- scheduler ----------------------------------------------------------------------------------
RECORDS_CREATED = Counter(
    "cyclone_records_created_total", "Records created (runs asked for)", ["trigger"]
)
RECORDS_FINISHED = Counter(
    "cyclone_records_finished_total", "Records ended, by final status", ["status", "cloud"]
)
QUEUE_WAIT = Histogram(
    "cyclone_record_queue_wait_seconds",
    "From a record's creation to its dispatch to a cloud (time spent Pending)",
    buckets=LONG,
)
DISPATCH = Histogram(
    "cyclone_dispatch_duration_seconds",
    "Time the cloud service took to start a record's worker (the start_worker call)",
    ["cloud"],
    buckets=SECONDS,
)
STAGE_DURATION = Histogram(
    "cyclone_stage_duration_seconds",
    "Stage run time, by stage and status",
    ["stage", "status"],
    buckets=LONG,
)
UPKEEP = Histogram(
    "cyclone_scheduler_upkeep_seconds",
    "One pass of the scheduler's 1 s upkeep timer (endings, timeouts, cron, dispatch); calls "
    "to the cloud service run apart, so a pass never waits on a peer",
    buckets=SECONDS,
)
RECORDS = Gauge(
    "cyclone_records",
    "Records Pending (the queue) and Running now, counted by the scheduler every 5 s",
    ["status"],
    multiprocess_mode="mostrecent",
)

# --- cloud --------------------------------------------------------------------------------------
WORKER_STARTS = Counter(
    "cyclone_worker_starts_total",
    "Worker starts by cloud: ok, no_room (the record waits), failed",
    ["cloud", "result"],
)
WORKER_EXITS = Counter(
    "cyclone_worker_exits_total",
    "Workers seen ended by the cloud service: ok (exit 0) or failed",
    ["cloud", "result"],
)

# --- logs ---------------------------------------------------------------------------------------
LOG_LINES = Counter("cyclone_log_lines_ingested_total", "Log lines stored")
LOG_DROPPED = Counter(
    "cyclone_log_batches_dropped_total",
    "Log batches dropped because their record's worker did not sign them (from a stranger; "
    "malformed or unstorable batches go to the dead-letter queue instead)",
    ["reason"],
)

# --- scm ----------------------------------------------------------------------------------------
WEBHOOKS = Counter(
    "cyclone_webhook_deliveries_total",
    "GitHub/GitLab deliveries the scm service handled, by what came of them",
    ["provider", "result"],
)

# --- gateway (values read at each scrape) --------------------------------------------------------
OUTBOX = Gauge(
    "cyclone_outbox_backlog",
    "Events and after-run deliveries written but not yet sent",
    ["outbox"],
    multiprocess_mode="mostrecent",
)
FOLLOWERS = Gauge(
    "cyclone_live_followers",
    "Open live-log WebSockets",
    multiprocess_mode="livesum",
)

# --- every nameko service -------------------------------------------------------------------------
RPC = Histogram(
    "cyclone_rpc_duration_seconds",
    "RPC calls served, by service, method and outcome: ok, refused (an expected error: not "
    "found, invalid, conflict) or error",
    ["service", "method", "outcome"],
    buckets=SECONDS,
)
EVENTS = Histogram(
    "cyclone_event_handler_duration_seconds",
    "Events handled, by service, handler and outcome: ok or error",
    ["service", "handler", "outcome"],
    buckets=SECONDS,
)

REDELIVERIES = Counter(
    "cyclone_event_retries_total",
    "Messages whose handler failed, handed to a delay queue to be tried again (shared/redelivery)",
    ["service", "queue"],
)
DEAD_LETTERS = Counter(
    "cyclone_dead_letters_total",
    "Messages moved to a service's dead-letter queue: every retry failed, or no retry could help",
    ["service", "queue"],
)


# Known label values start at zero, so a dashboard or an alert sees 0 rather than no series.
LOG_DROPPED.labels("unsigned")
for _provider in ("github", "gitlab"):
    for _result in ("started", "ignored", "refused", "duplicate", "error"):
        WEBHOOKS.labels(_provider, _result)


def serve(port_env: str = "CYCLONE_METRICS_PORT") -> int | None:
    """Serve this process's metrics on CYCLONE_METRICS_PORT when set (a pod of its own)."""
    port = Env().integer(port_env, 0)
    if not port:
        return None
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
    return port
