"""OpenTelemetry traces: a span per request, and one per /context/assemble stage. Off unless configured.

Configured by the standard variables only: OTEL_TRACES_EXPORTER (console, otlp; unset or none: off),
OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP/protobuf), OTEL_TRACES_SAMPLER,
OTEL_SDK_DISABLED. An incoming W3C `traceparent` continues the caller's trace.

The domain (retrieval/) knows nothing of OpenTelemetry: it measures its stages already, and this
module turns those measurements into spans after the call, on the API floor (record_assemble).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem.api.admission_middleware import TICKET
from agentmem.core.errors import ConfigurationError
from agentmem.retrieval.assemble import Assembled, AssembleRequest

SPAN = "agentmem.span"  # the scope key of a request's server span
EXPORTERS = ("console", "otlp")
_PROPAGATOR = TraceContextTextMapPropagator()  # W3C trace context, whatever the global propagators are

# The routes that are GenAI memory operations (OpenTelemetry semantic conventions, gen_ai.operation.name).
MEMORY_OPERATIONS: dict[tuple[str, str], str] = {
    ("POST", "/context/assemble"): "search_memory",
    ("POST", "/search"): "search_memory",
    ("PUT", "/documents"): "upsert_memory",
    ("POST", "/documents/batch"): "upsert_memory",
    ("POST", "/memories"): "create_memory",
    ("POST", "/tasks/{task_id}/scratchpad"): "create_memory",
    ("DELETE", "/documents/{doc_id}"): "delete_memory",
}


def provider_from_env(environ: Mapping[str, str]) -> TracerProvider | None:
    """A tracer provider as the OTEL_* variables describe, or None when tracing is not configured."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    names = [n for n in names if n and n != "none"]
    if not names:
        return None
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={','.join(unknown)} is not supported; use "
                                 f"{' or '.join(EXPORTERS)} (or none)")
    provider = TracerProvider(resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "agentmem"}))
    for name in names:
        if name == "console":  # for a person watching: each span printed as it ends
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))  # now's stdout
        else:  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and _HEADERS itself
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@dataclass(frozen=True)
class Tracing:
    """What the routes need: the tracer, and whether query text may go into spans (opt-in)."""

    tracer: trace.Tracer
    capture_query: bool = False


def request_span(scope: Scope) -> Span | None:
    span = scope.get(SPAN)
    return span if span is not None and span.is_recording() else None


def assemble_trace_id(scope: Scope) -> uuid.UUID | None:
    """The request's OpenTelemetry trace id as the assemble trace_id, when this request started the trace.

    A request that continues a caller's trace (traceparent) shares its trace id with the caller's
    other calls, while an assemble trace is one call: it keeps an id of its own (None: a fresh one),
    carried on its span as agentmem.assemble.trace_id."""
    span = request_span(scope)
    if span is None or getattr(span, "parent", None) is not None:
        return None
    return uuid.UUID(int=span.get_span_context().trace_id)


class TracingMiddleware:
    """One SERVER span per HTTP request, named by its route template, continuing an incoming traceparent."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        method = scope.get("method", "GET")
        attributes = {"http.request.method": method, "url.path": scope.get("path", ""),
                      "url.scheme": scope.get("scheme", "http")}
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        with self.tracer.start_as_current_span(method, context=_PROPAGATOR.extract(headers), kind=SpanKind.SERVER,
                                               attributes=attributes, record_exception=True,
                                               set_status_on_exception=True) as span:
            scope[SPAN] = span
            status: list[int] = []

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                _finish(span, scope, method, status[0] if status else 500)


def _finish(span: Span, scope: Scope, method: str, status: int) -> None:
    route = getattr(scope.get("route"), "path", None)
    if route:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        operation = MEMORY_OPERATIONS.get((method, route))
        if operation:
            span.set_attribute("gen_ai.operation.name", operation)
    ticket = scope.get(TICKET)
    if ticket is not None and ticket.namespace:
        span.set_attribute("gen_ai.memory.store.id", ticket.namespace)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def record_assemble(scope: Scope, tracing: Tracing | None, namespace: str, req: AssembleRequest,
                    a: Assembled) -> None:
    """A `search_memory` span for one assemble call, under the request's span, with a child span per
    stage at the times it ran (a stage measured in two parts, e.g. task, spans from its first start
    for its total time). Stages overlap: task and keyword run while the query is embedded."""
    parent = request_span(scope)
    if parent is None or tracing is None:
        return
    offset = time.time_ns() - int(time.perf_counter() * 1e9)  # perf_counter seconds -> epoch ns

    def ns(at: float, plus_ms: float = 0.0) -> int:
        return offset + int(at * 1e9) + int(plus_ms * 1e6)

    included = {tier: len(items) for tier, items in a.items.items()}
    reasons: dict[str, int] = {}
    for d in a.dropped:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "search_memory", "gen_ai.memory.store.id": namespace,
        "gen_ai.memory.record.count": sum(included.values()),
        "agentmem.assemble.trace_id": a.trace_id.hex, "agentmem.budget_tokens": req.budget_tokens,
        "agentmem.tokens": a.packed.tokens, "agentmem.tokens.pinned": a.packed.pinned_tokens,
        "agentmem.items.included": sum(included.values()), "agentmem.items.dropped": len(a.dropped),
    }
    if tracing.capture_query:
        attributes["gen_ai.memory.query.text"] = req.query
    if req.task_id is not None:
        attributes["agentmem.task.id"] = str(req.task_id)
    attributes |= {f"agentmem.tokens.{tier}": n for tier, n in a.packed.section_tokens.items()}
    attributes |= {f"agentmem.items.included.{tier}": n for tier, n in included.items()}
    attributes |= {f"agentmem.items.dropped.{reason}": n for reason, n in reasons.items()}
    attributes |= {f"agentmem.timings_ms.{stage}": ms for stage, ms in a.timings.items()}
    span = tracing.tracer.start_span(f"search_memory {namespace}", context=trace.set_span_in_context(parent),
                                     start_time=ns(a.started), attributes=attributes)
    inside = trace.set_span_in_context(span)
    for stage, began in sorted(a.stages_started.items(), key=lambda kv: kv[1]):
        ms = a.timings.get(stage, 0.0)
        child = tracing.tracer.start_span(f"assemble {stage}", context=inside, start_time=ns(began),
                                          attributes={"agentmem.stage": stage, "agentmem.duration_ms": ms})
        child.end(end_time=ns(began, ms))
    span.end(end_time=ns(a.started, a.timings.get("total", 0.0)))
