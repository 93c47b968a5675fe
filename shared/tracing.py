"""OpenTelemetry traces: one span per HTTP request, RPC call, event handler and worker stage,
with the context carried across the bus.

Off unless an OTLP endpoint is configured with the standard variables
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true
turns it off again): then spans are batched and exported over OTLP/HTTP. Off, nothing of
OpenTelemetry is even imported (its propagators alone cost ~90 ms at a worker's start): every
function here returns at once and spans are one shared do-nothing object.

The context travels as W3C `traceparent`: an HTTP header into the gateway, a nameko context
key between services (so a message header `nameko.traceparent`, next to the request id), the
`TRACEPARENT` environment variable into a worker process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

KEYS = ("traceparent", "tracestate")
ENV = "TRACEPARENT"
# span kinds, named as opentelemetry.trace.SpanKind's members
SERVER, CLIENT, INTERNAL = "SERVER", "CLIENT", "INTERNAL"
PRODUCER, CONSUMER = "PRODUCER", "CONSUMER"

_tracer: Any = None  # an OpenTelemetry tracer once setup() exported


class _NoSpan:
    """What a span is while tracing is off."""

    def set_attribute(self, key: str, value: object) -> None:
        pass

    def update_name(self, name: str) -> None:
        pass

    def end(self) -> None:
        pass


NO_SPAN: Any = _NoSpan()


def enabled() -> bool:
    return _tracer is not None


def setup(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Export this process's spans when an endpoint is set; True when it does."""
    global _tracer
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint or (env.get("OTEL_SDK_DISABLED") or "").lower() == "true":
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or f"cyclone-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("cyclone")
    return True


def flush() -> None:
    """Send what is batched (a worker about to exit)."""
    if _tracer is not None:
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush(5000)  # type: ignore[attr-defined]  # the SDK's provider has it, the API's type does not


def _kind(kind: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, kind)


def start(name: str, kind: str = INTERNAL, parent: Any = None) -> Any:
    """A span (not made current: `attach` does that), child of `parent` (a context from
    `extract`), else of the current span."""
    if _tracer is None:
        return NO_SPAN
    return _tracer.start_span(name, context=parent, kind=_kind(kind))


def attach(span: Any) -> Any:
    """Make `span` the current one; the token goes back to `detach`."""
    if _tracer is None:
        return None
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def detach(token: Any) -> None:
    if token is not None:
        from opentelemetry import context

        context.detach(token)


def failed(span: Any, exc: BaseException) -> None:
    if _tracer is not None:
        from opentelemetry.trace import StatusCode

        span.record_exception(exc)
        span.set_status(StatusCode.ERROR, str(exc))


@contextlib.contextmanager
def span(name: str, kind: str = INTERNAL) -> Iterator[Any]:
    """A span under the current one, current while the block runs."""
    if _tracer is None:
        yield NO_SPAN
        return
    with _tracer.start_as_current_span(name, kind=_kind(kind)) as current:
        yield current


@contextlib.contextmanager
def child(name: str, kind: str) -> Iterator[Any]:
    """As `span`, but nothing when there is no current span: a health check's pings would
    otherwise each start a trace of their own."""
    if _tracer is None:
        yield NO_SPAN
        return
    from opentelemetry import trace

    if not trace.get_current_span().is_recording():
        yield NO_SPAN
        return
    with _tracer.start_as_current_span(name, kind=_kind(kind)) as current:
        yield current


def inject() -> dict[str, str]:
    """The current span's context as carrier keys (empty when tracing is off)."""
    if _tracer is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, object]) -> Any:
    if _tracer is None:
        return None
    from opentelemetry import propagate

    return propagate.extract({k: str(v) for k, v in carrier.items() if k in KEYS and v})


def launch_env() -> dict[str, str]:
    """For a process started on behalf of the current span (a worker)."""
    parent = inject().get("traceparent")
    return {ENV: parent} if parent else {}


def from_env(env: Mapping[str, str] = os.environ) -> Any:
    parent = env.get(ENV)
    return extract({"traceparent": parent}) if parent else None
