"""Start one nameko service from the CYCLONE_* environment, as `python -m services.<name>`.

The caller must have run `eventlet.monkey_patch()` before importing anything else (a run
without it hangs on the first socket read; STACK-NOTES).
"""

from __future__ import annotations

import logging
import os
import signal
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
    logsetup.configure(shown)
    tracing.setup(service_cls.name)
    metrics.serve()
    cfg: dict[str, Any] = settings.nameko_config()
    cfg["CYCLONE"] = settings
    runner = ServiceRunner(cfg)
    runner.add_service(service_cls)

    stopping = eventlet.event.Event()

    def _stop(signum: int, _frame: object) -> None:
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    log.info("service %s started (pid %s)", service_cls.name, os.getpid())
    runner_thread = eventlet.spawn(runner.wait)
    stopper = eventlet.spawn(stopping.wait)
    # Whichever finishes first: a crash of the runner, or a signal.
    done = eventlet.event.Event()
    runner_thread.link(lambda gt: done.ready() or done.send("crashed"))
    stopper.link(lambda gt: done.ready() or done.send("signal"))
    why = done.wait()
    if why == "signal":
        log.info("service %s stopping", service_cls.name)
        stopped = False
        with eventlet.Timeout(10, False):
            runner.stop()
            stopped = True
        if not stopped:
            runner.kill()
    else:
        runner_thread.wait()  # re-raises the crash
