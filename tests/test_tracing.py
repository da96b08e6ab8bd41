"""Tracing: the access line carries the trace id of a valid incoming W3C `traceparent`,
and with OTEL_EXPORTER_OTLP_ENDPOINT set, spans continuing it reach an OTLP/HTTP
collector (here a local receiver that decodes what it is sent)."""

from __future__ import annotations

import io
import sys
from typing import Any

import orjson
import pytest
from aiohttp import web

from service.app import create_app
from service.logs import flush_logs
from service.middlewares import request_middleware, trace_id
from tests.helpers import MakeClient, make_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"
MALFORMED = [
    "",
    "garbage",
    f"01-{TRACE_ID}-{SPAN_ID}-01",  # only version 00
    f"ff-{TRACE_ID}-{SPAN_ID}-01",
    f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
    f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero span id
    f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # hex is lowercase
    f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
    f"00-{TRACE_ID}-{SPAN_ID}-1",
    f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
    f"00-{TRACE_ID}-{SPAN_ID}-01\n",
    f"00-{TRACE_ID[:-1]}g-{SPAN_ID}-01",
]


def _access_lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    flush_logs()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == "request"]


def test_a_valid_traceparent_gives_its_trace_id() -> None:
    assert trace_id(TRACEPARENT) == TRACE_ID
    assert trace_id(f"00-{TRACE_ID}-{SPAN_ID}-00") == TRACE_ID


@pytest.mark.parametrize("header", [None, *MALFORMED])
def test_an_absent_or_malformed_traceparent_gives_nothing(header: str | None) -> None:
    assert trace_id(header) is None


async def test_the_access_line_carries_the_incoming_trace_id(
    make_client: MakeClient, json_logs: io.BytesIO
) -> None:
    client = await make_client()
    await client.get("/healthz", headers={"traceparent": TRACEPARENT})
    await client.get("/healthz")
    traced, untraced = _access_lines(json_logs)
    assert traced["trace_id"] == TRACE_ID
    assert "trace_id" not in untraced


@pytest.mark.parametrize("header", [h for h in MALFORMED if h and "\n" not in h])
async def test_a_malformed_traceparent_is_neither_logged_nor_echoed(
    make_client: MakeClient, json_logs: io.BytesIO, header: str
) -> None:
    client = await make_client()
    response = await client.get("/healthz", headers={"traceparent": header})
    assert response.status == 200
    (line,) = _access_lines(json_logs)
    assert "trace_id" not in line
    assert header not in orjson.dumps(line).decode()


def test_without_an_endpoint_there_is_no_tracing_middleware(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    app = create_app(make_settings())
    assert list(app.middlewares) == [request_middleware]


def test_without_the_otel_packages_the_service_runs_untraced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setitem(sys.modules, "service.tracing", None)  # importing it fails
    app = create_app(make_settings())
    assert list(app.middlewares) == [request_middleware]


def _otel_proto() -> Any:
    """opentelemetry-proto's ExportTraceServiceRequest, or a skip naming why not."""
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError as missing:  # pragma: no cover - the test extra installs it
        print(f"skipped: the otel extra is not installed ({missing.name})")
        pytest.skip(f"the otel extra is not installed ({missing.name})")
    return trace_service_pb2.ExportTraceServiceRequest


async def test_spans_reach_an_otlp_http_collector_continuing_the_incoming_trace(
    make_client: MakeClient, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode = _otel_proto()
    received: list[Any] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        export = decode()
        export.ParseFromString(await request.read())
        received.append(export)
        return web.Response(status=200)

    collector = web.Application()
    collector.router.add_post("/v1/traces", traces)
    server = await aiohttp_server(collector)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", str(server.make_url("/")).rstrip("/"))
    monkeypatch.setenv("OTEL_SERVICE_NAME", "rtc-tokens-under-test")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    client = await make_client()
    assert len(client.app.middlewares) == 2
    await client.get("/healthz", headers={"traceparent": TRACEPARENT})
    await client.get("/no/such/route")
    await client.close()  # the application's cleanup sends the queued spans

    spans = [
        (resource_spans.resource, span)
        for export in received
        for resource_spans in export.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert len(spans) == 2
    by_name = {span.name: (resource, span) for resource, span in spans}
    resource, health = by_name["GET /healthz"]
    assert health.trace_id.hex() == TRACE_ID
    assert health.parent_span_id.hex() == SPAN_ID
    attributes = {a.key: a.value for a in health.attributes}
    assert attributes["http.route"].string_value == "/healthz"
    assert attributes["http.response.status_code"].int_value == 200
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "rtc-tokens-under-test"
    _, unmatched = by_name["GET unmatched"]
    assert unmatched.trace_id.hex() != TRACE_ID  # a new trace: no traceparent came
    assert not unmatched.parent_span_id
    attributes = {a.key: a.value for a in unmatched.attributes}
    assert attributes["http.response.status_code"].int_value == 404
