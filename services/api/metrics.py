"""Prometheus metrics of the gateway.

gunicorn runs several worker processes, so the client library's multiprocess mode is used
when PROMETHEUS_MULTIPROC_DIR is set (services/api/__main__.py sets it under the data dir).
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from shared.envvars import Env

REQUESTS = Counter(
    "cyclone_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "cyclone_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

HEALTH_CHECKS = Counter(
    "cyclone_health_checks_total",
    "Health checks made (a MongoDB ping and a ping of every resident service); /healthz "
    "answers from the last one while it is at most 1 s old",
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    if Env().is_set("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
