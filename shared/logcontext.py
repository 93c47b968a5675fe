"""The request and record ids of a nameko worker, in its log lines and in what it sends on;
its span (shared/tracing.py), the child of the caller's; and its time and outcome, in the
RPC and event-handler histograms (shared/metrics.py).

nameko copies a worker's context data into the headers of every RPC call and event it sends
(`nameko.<key>`), and the receiving worker gets them back as its context data: so a key put
there once travels along the whole chain. This provider reads `request_id` and `record_id` from
the incoming context (or the record id from the call's arguments: `record_id=`, or a payload
holding one), binds them for the worker's log lines (shared/logsetup.py), and puts the record
id into the context so the calls it makes carry it too.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Hashable, Mapping
from contextvars import Token
from typing import Any, cast

from nameko.containers import WorkerContext
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc

from shared import logsetup, metrics, tracing


def record_id_in(arguments: Mapping[str, Any]) -> str:
    """The record a call is about, when its arguments say so: a `record_id` parameter, or a
    payload (an event's) holding one."""
    direct = arguments.get("record_id")
    if isinstance(direct, str):
        return direct
    for value in arguments.values():
        found = value.get("record_id") if isinstance(value, Mapping) else None
        if isinstance(found, str):
            return found
    return ""


def record_of(context: Mapping[str, object], arguments: Mapping[str, object]) -> str:
    """The record a worker is about: the one its call names, else its caller's. A caller's
    context can be another record's (the scheduler dispatches the oldest Pending record from
    whichever record's worker got there), so the call's own arguments come first."""
    return record_id_in(arguments) or str(context.get("record_id") or "")


def _arguments(worker_ctx: WorkerContext) -> dict[str, Any]:
    """The call's arguments by parameter name (positional ones too)."""
    service = cast(Hashable, type(worker_ctx.service))  # a class is hashable; mypy doubts it
    names = _parameter_names(service, worker_ctx.entrypoint.method_name)
    if names is None or len(worker_ctx.args) > len(names):
        return dict(worker_ctx.kwargs)
    return {**dict(zip(names, worker_ctx.args, strict=False)), **worker_ctx.kwargs}


PLAIN = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@functools.lru_cache(maxsize=1024)
def _parameter_names(service: Hashable, method: str) -> tuple[str, ...] | None:
    """A service method's parameter names without `self`, in order, found once: its
    `inspect.signature` per call took a quarter of the logs service's CPU, and binding the
    arguments to it a twentieth of the services' process (py-spy). None when arguments cannot
    be named by position (`*args`, `**kwargs`, positional-only, no signature)."""
    function = getattr(service, method, None)
    if function is None:
        return None
    try:
        parameters = list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    if any(p.kind not in PLAIN for p in parameters):
        return None
    return tuple(p.name for p in parameters if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD)


class Binder:
    """What a service method gets: `self.log_context.record(id)` once it knows the record (a
    record it has just created, say)."""

    def __init__(self, worker_ctx: WorkerContext) -> None:
        self._ctx = worker_ctx

    def record(self, record_id: str) -> None:
        logsetup.RECORD_ID.set(record_id)
        self._ctx.data["record_id"] = record_id


def _span_kind(worker_ctx: WorkerContext) -> str | None:
    """RPC calls and event handlers are traced; timers and queue consumers (the scheduler's
    upkeep every second, each log batch) would bury them."""
    if isinstance(worker_ctx.entrypoint, Rpc):
        return tracing.SERVER
    if isinstance(worker_ctx.entrypoint, EventHandler):
        return tracing.CONSUMER
    return None


def _observe(worker_ctx: WorkerContext, outcome: str, seconds: float) -> None:
    name, method = worker_ctx.service_name, worker_ctx.entrypoint.method_name
    if isinstance(worker_ctx.entrypoint, Rpc):
        metrics.RPC.labels(name, method, outcome).observe(seconds)
    elif isinstance(worker_ctx.entrypoint, EventHandler):
        metrics.EVENTS.labels(name, method, outcome).observe(seconds)


class LogContext(DependencyProvider):  # type: ignore[misc]  # nameko ships no type information
    def __init__(self) -> None:
        self._tokens: dict[int, list[tuple[Any, Token[str]]]] = {}
        self._spans: dict[int, tuple[Any, Any]] = {}
        self._started: dict[int, tuple[float, str]] = {}

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        data = worker_ctx.data
        record = record_of(data, _arguments(worker_ctx))
        if record:
            data["record_id"] = record
        ids = {"request_id": data.get("request_id") or "", "record_id": record}
        self._tokens[id(worker_ctx)] = [
            (logsetup.IDS[k], logsetup.IDS[k].set(str(v))) for k, v in ids.items()
        ]
        if logsetup.WORKER_SERVICE_SHOWN:  # several services in this process
            service = logsetup.SERVICE.set(worker_ctx.service_name)
            self._tokens[id(worker_ctx)].append((logsetup.SERVICE, service))
        self._started[id(worker_ctx)] = (time.perf_counter(), "ok")
        kind = _span_kind(worker_ctx) if tracing.enabled() else None
        if kind is not None:
            name = f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}"
            span = tracing.start(name, kind, tracing.extract(data))
            if record:
                span.set_attribute("cyclone.record_id", record)
            self._spans[id(worker_ctx)] = (span, tracing.attach(span))
            data.update(tracing.inject())  # what this worker calls and sends is its child

    def worker_result(
        self, worker_ctx: WorkerContext, result: object = None, exc_info: Any = None
    ) -> None:
        if exc_info is not None:
            began, _ = self._started.get(id(worker_ctx), (time.perf_counter(), ""))
            # an expected exception (NotFound, InvalidRequest...) is the caller's mistake
            expected = getattr(worker_ctx.entrypoint, "expected_exceptions", ()) or ()
            outcome = "refused" if isinstance(exc_info[1], expected) else "error"
            self._started[id(worker_ctx)] = (began, outcome)
        traced = self._spans.get(id(worker_ctx))
        if traced is not None and exc_info is not None:
            tracing.failed(traced[0], exc_info[1])

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        began, outcome = self._started.pop(id(worker_ctx), (None, ""))
        if began is not None:
            _observe(worker_ctx, outcome, time.perf_counter() - began)
        traced = self._spans.pop(id(worker_ctx), None)
        if traced is not None:
            traced[0].end()
            tracing.detach(traced[1])
        for var, token in reversed(self._tokens.pop(id(worker_ctx), [])):
            try:
                var.reset(token)
            except ValueError:  # set in another context (cannot happen in one greenlet)
                var.set("")

    def get_dependency(self, worker_ctx: WorkerContext) -> Binder:
        return Binder(worker_ctx)
