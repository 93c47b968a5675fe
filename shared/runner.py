"""Start nameko services from the CYCLONE_* environment: one, as `python -m services.<name>`,
or several in one process, as `python -m services` (the single-machine default; see
docs/architecture.md "One process or several").

The caller must have run `eventlet.monkey_patch()` before importing anything else (a run
without it hangs on the first socket read; STACK-NOTES).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from typing import Any, Protocol

import eventlet
from nameko.runners import ServiceRunner

from shared import config, logsetup, metrics, tracing

log = logging.getLogger("cyclone")


class Service(Protocol):
    """A nameko service class: its `name` is its name on the bus."""

    name: str


def run_service(service_cls: type[Service], settings: config.Settings | None = None) -> None:
    """Run until SIGINT/SIGTERM, then stop gracefully (in-flight workers finish)."""
    settings = settings or config.load()
    # replicas tell themselves apart in the log; their service name on the bus is the same
    shown = service_cls.name if settings.replica == 1 else f"{service_cls.name}-{settings.replica}"
    run_services([service_cls], shown, settings)


def run_services(
    classes: Sequence[type[Service]], shown: str, settings: config.Settings | None = None
) -> None:
    """Run these services in one nameko runner (one process, one eventlet hub, one broker
    connection each, as separate processes would have), logging as `shown` outside their
    workers; until SIGINT/SIGTERM, then stop them all gracefully."""
    settings = settings or config.load()
    logsetup.configure(shown)
    if len(classes) > 1:
        logsetup.WORKER_SERVICE_SHOWN = True  # each worker's lines name its own service
    names = "+".join(cls.name for cls in classes)
    tracing.setup(classes[0].name if len(classes) == 1 else shown)
    metrics.serve()
    cfg: dict[str, Any] = settings.nameko_config()
    cfg["CYCLONE"] = settings
    runner = ServiceRunner(cfg)
    for cls in classes:
        # a service may run more workers at once than the default (its CONCURRENCY)
        own = {**cfg, "max_workers": getattr(cls, "CONCURRENCY", cfg["max_workers"])}
        runner.service_map[cls.name] = runner.container_cls(cls, own)

    stopping = eventlet.event.Event()

    def _stop(signum: int, _frame: object) -> None:
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    log.info("service %s started (pid %s)", names, os.getpid())
    runner_thread = eventlet.spawn(runner.wait)
    stopper = eventlet.spawn(stopping.wait)
    # Whichever finishes first: a crash of the runner, or a signal.
    done = eventlet.event.Event()
    runner_thread.link(lambda gt: done.ready() or done.send("crashed"))
    stopper.link(lambda gt: done.ready() or done.send("signal"))
    why = done.wait()
    if why == "signal":
        log.info("service %s stopping", names)
        stopped = False
        with eventlet.Timeout(10, False):
            runner.stop()
            stopped = True
        if not stopped:
            runner.kill()
    else:
        runner_thread.wait()  # re-raises the crash
