"""OpenTelemetry: spans for requests and assemble stages, W3C traceparent, off unless configured (api/tracing.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentmem.api.app import create_app
from agentmem.api.tracing import TracingMiddleware, provider_from_env
from agentmem.core.errors import ConfigurationError
from agentmem.core.settings import Settings
from conftest import Tenant, make_tenant

STAGES = {"task", "embed", "keyword", "vector", "fuse", "neighbours", "pack"}  # neighbours: on by default
DOCS = [("kb://venues", "Venue A in Alfama costs 6,000 EUR per day and seats 40 people. " * 6),
        ("kb://hotels", "Hotel B near Rossio charges 140 EUR per room per night in May. " * 6),
        ("kb://food", "Catering for 40 people costs about 35 EUR per person per meal in Lisbon. " * 6)]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced_client(settings: Settings, embedder: Any, exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with TestClient(create_app(settings, embedder=embedder, tracer_provider=provider),
                    raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def traced(settings: Settings, embedder: Any, exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    yield from traced_client(settings, embedder, exporter)


def assemble(client: TestClient, t: Tenant, headers: dict[str, str] | None = None) -> dict[str, Any]:
    tid = client.post("/tasks", json={"goal": "Plan the Lisbon offsite"}, headers=t.headers).json()["id"]
    for uri, text in DOCS:
        assert client.put("/documents", json={"source_uri": uri, "text": text}, headers=t.headers).status_code < 300
    r = client.post("/context/assemble", json={"task_id": tid, "query": "venue price", "budget_tokens": 120},
                    headers={**t.headers, **(headers or {})})
    assert r.status_code == 200, r.text
    return r.json()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_one_assemble_makes_spans_with_stage_timings_and_gen_ai_attributes(
        traced: TestClient, exporter: InMemorySpanExporter) -> None:
    t = make_tenant(traced, "alpha")
    exporter.clear()
    body = assemble(traced, t)
    spans = by_name(exporter)
    server, search = spans["POST /context/assemble"], spans["search_memory alpha"]
    assert server.attributes["http.route"] == "/context/assemble"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["gen_ai.memory.store.id"] == "alpha"
    assert search.parent.span_id == server.context.span_id
    # the service started this trace: its id is the assemble trace_id
    assert format(search.context.trace_id, "032x") == uuid.UUID(body["trace_id"]).hex
    assert search.attributes["agentmem.assemble.trace_id"] == uuid.UUID(body["trace_id"]).hex
    a = search.attributes
    assert a["gen_ai.operation.name"] == "search_memory" and a["gen_ai.memory.store.id"] == "alpha"
    assert "gen_ai.memory.query.text" not in a  # only when opted in
    assert a["agentmem.tokens"] == body["tokens"] and a["agentmem.budget_tokens"] == 120
    for section in body["sections"]:
        assert a[f"agentmem.tokens.{section['tier']}"] == section["tokens"]
    included = sum(len(s["items"]) for s in body["sections"] if s["tier"] != "pinned")
    assert a["agentmem.items.included"] == a["gen_ai.memory.record.count"] == included
    assert a["agentmem.items.dropped"] == len(body["dropped"]) > 0
    assert a["agentmem.timings_ms.total"] == body["timings_ms"]["total"]
    stages = {s.attributes["agentmem.stage"]: s for s in exporter.get_finished_spans() if s.name.startswith("assemble ")}
    assert set(stages) == STAGES
    for name, span in stages.items():
        assert span.parent.span_id == search.context.span_id
        assert span.attributes["agentmem.duration_ms"] == body["timings_ms"][name]
        assert span.end_time - span.start_time == pytest.approx(body["timings_ms"][name] * 1e6, abs=1)
        assert search.start_time <= span.start_time


def test_query_text_only_when_opted_in(settings: Settings, embedder: Any, exporter: InMemorySpanExporter) -> None:
    for client in traced_client(settings.model_copy(update={"trace_query_text": True}), embedder, exporter):
        assemble(client, make_tenant(client, "alpha"))
    assert by_name(exporter)["search_memory alpha"].attributes["gen_ai.memory.query.text"] == "venue price"


def test_a_traceparent_continues_the_callers_trace(traced: TestClient, exporter: InMemorySpanExporter) -> None:
    t = make_tenant(traced, "alpha")
    caller_trace, caller_span = uuid.uuid4().hex, "00f067aa0ba902b7"
    exporter.clear()
    body = assemble(traced, t, {"traceparent": f"00-{caller_trace}-{caller_span}-01"})
    server = by_name(exporter)["POST /context/assemble"]
    assert format(server.context.trace_id, "032x") == caller_trace
    assert format(server.parent.span_id, "016x") == caller_span and server.parent.is_remote
    # the caller's trace holds its other calls too: the assemble record keeps an id of its own, on the span
    search = by_name(exporter)["search_memory alpha"]
    assert uuid.UUID(body["trace_id"]).hex != caller_trace
    assert search.attributes["agentmem.assemble.trace_id"] == uuid.UUID(body["trace_id"]).hex
    assert traced.get(f"/context/traces/{body['trace_id']}", headers=t.headers).status_code == 200


def test_every_request_has_a_span_refusals_too(traced: TestClient, exporter: InMemorySpanExporter) -> None:
    assert traced.get("/tasks/00000000-0000-0000-0000-000000000000").status_code == 401
    span = by_name(exporter)["GET /tasks/{task_id}"]
    assert span.attributes["http.response.status_code"] == 401


def test_nothing_is_traced_unless_configured(settings: Settings, embedder: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert provider_from_env({}) is None
    assert provider_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert provider_from_env({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None
    with pytest.raises(ConfigurationError, match="zipkin"):
        provider_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings, embedder=embedder)
    assert app.state.tracing is None
    assert not [m for m in app.user_middleware if m.cls is TracingMiddleware]


def test_console_exporter_prints_the_spans_of_one_assemble(
        settings: Settings, embedder: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agentmem-under-test")
    with TestClient(create_app(settings, embedder=embedder), raise_server_exceptions=False) as client:
        t = make_tenant(client, "alpha")
        capfd.readouterr()
        body = assemble(client, t)
    printed = capfd.readouterr().out
    spans = [json.loads(chunk) for chunk in _json_objects(printed)]
    names = {s["name"] for s in spans}
    assert {"POST /context/assemble", "search_memory alpha"} | {f"assemble {s}" for s in STAGES} <= names
    search = next(s for s in spans if s["name"] == "search_memory alpha")
    assert search["attributes"]["gen_ai.operation.name"] == "search_memory"
    assert search["attributes"]["agentmem.timings_ms.embed"] == body["timings_ms"]["embed"]
    assert search["context"]["trace_id"] == "0x" + uuid.UUID(body["trace_id"]).hex
    assert search["resource"]["attributes"]["service.name"] == "agentmem-under-test"


def _json_objects(text: str) -> Iterator[str]:
    """The console exporter prints one indented JSON object per span, one after another."""
    decoder, at = json.JSONDecoder(), 0
    while (start := text.find("{", at)) != -1:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:  # a brace in some other line
            at = start + 1
            continue
        yield text[start:end]
        at = end
