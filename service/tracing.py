"""Spans to an OpenTelemetry collector, over OTLP HTTP/protobuf (the optional `otel` extra).

Imported by service/app.py only when OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, so a service without a collector never loads
the SDK and pays nothing per request. Each request gets one SERVER span, named by its
method and route, continuing the trace of a valid incoming W3C `traceparent` (a
malformed one starts a new trace). The SDK reads the standard variables itself:
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the service name defaults to
rtc-token-service), OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression),
OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* (batching). Spans are exported in batches from a
background thread; what is still queued is sent when the application stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.guards import route_name

DEFAULT_SERVICE_NAME = "rtc-token-service"


def _resource() -> Resource:
    """The SDK's resource from the environment, named rtc-token-service unless
    OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names it."""
    resource = Resource.create()
    name = resource.attributes.get(SERVICE_NAME)
    if not isinstance(name, str) or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _middleware(tracer: Tracer) -> Middleware:
    propagator = TraceContextTextMapPropagator()

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_name(request)
        attributes = {"http.request.method": request.method, "http.route": route}
        with tracer.start_as_current_span(
            f"{request.method} {route}",
            context=propagator.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                response = await handler(request)
            except asyncio.CancelledError:
                span.set_attribute("http.response.status_code", 499)  # the client went away
                raise
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return traced


class Tracing:
    """This process's tracer provider, exporting to the configured collector."""

    def __init__(self) -> None:
        self.provider = TracerProvider(resource=_resource())
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.middleware = _middleware(self.provider.get_tracer("service.tracing"))

    async def exported_at_exit(self, app: web.Application) -> AsyncIterator[None]:
        """The application's cleanup context: queued spans are sent when it stops."""
        yield
        # Blocks until the last batch is sent (or times out): off the event loop.
        await asyncio.to_thread(self.provider.shutdown)
