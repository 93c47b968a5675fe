"""OpenTelemetry spans of one run, received by a local OTLP/HTTP receiver (protobuf decoded
with the opentelemetry-proto package): gateway → scheduler → cloud → worker → stages."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.repos import make_git_repo
from tests.support import StackProcess
from tests.waiting import wait_for


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str


class Receiver:
    """What an OpenTelemetry Collector's OTLP/HTTP receiver would get, kept in a list."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.take(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, request: ExportTraceServiceRequest) -> None:
        for resource in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                with self.lock:
                    self.spans.extend(
                        Span(
                            attrs.get("service.name", ""),
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                        )
                        for s in scope.spans
                    )

    def of_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    got = Receiver()
    yield got
    got.server.shutdown()


@pytest.fixture(scope="module")
def traced_stack(receiver: Receiver, tmp_path_factory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("traced") / "data"
    proc = StackProcess(
        data, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100"
    ).start()
    yield proc
    proc.retire()


def chain(spans: list[Span], leaf: Span) -> list[str]:
    """`service:name` of `leaf` and its ancestors, root first."""
    by_id = {s.span_id: s for s in spans}
    path, node = [], leaf
    while node is not None:
        path.append(f"{node.service}:{node.name}")
        node = by_id.get(node.parent_id)
    return path[::-1]


def test_one_run_is_one_trace_from_the_request_to_the_stages(
    traced_stack: StackProcess, receiver: Receiver, tmp_path
):
    repo = make_git_repo(tmp_path)
    name = f"t{uuid.uuid4().hex[:10]}"
    trace_id = uuid.uuid4().hex
    caller = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"  # the client's own trace goes on
    with traced_stack.client() as api:
        assert api.post("/api/v1/projects", json=project_body(name)).status_code == 201
        runs = Runs(api, name)
        runs.pipeline(pipeline_body("p", repo.url, unit=["echo u"], package=["echo p"]))
        created = api.post(runs.url("p"), json={"ref": "main"}, headers={"traceparent": caller})
        assert created.status_code == 201, created.text
        assert runs.wait("p", created.json()["id"])["status"] == "Success"

    def stage_spans() -> list[Span] | None:
        spans = receiver.of_trace(trace_id)
        stages = [s for s in spans if s.name.startswith("stage ")]
        return spans if len(stages) == 3 else None

    spans = wait_for(stage_spans, 30, "the spans of the three stages")
    package = next(s for s in spans if s.name == "stage package")
    assert chain(spans, package) == [
        "cyclone-api:POST /api/v1/projects/{project}/pipelines/{pipeline}/records",
        "cyclone-api:scheduler.create_record",
        "cyclone-scheduler:scheduler.create_record",
        "cyclone-cloud:cloud.start_worker",
        f"cyclone-worker:worker {created.json()['id']}",
        "cyclone-worker:stage package",
    ]
    worker = next(s for s in spans if s.name.startswith("worker "))
    assert {s.name for s in spans if s.parent_id == worker.span_id} == {
        "stage codeCheckout",
        "stage unitTest",
        "stage package",
    }
