"""Hybrid search, context assembly, assemble traces, and the namespace's retrieval defaults."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from agentmem.core.errors import InvalidInput
from agentmem.memory.namespaces import Principal
from agentmem.api import tracing
from agentmem.api.deps import ConnDep, ReadDep, ServicesDep, require_role
from agentmem.api.pending_traces import PENDING
from agentmem.api.services import Services
from agentmem.api.schemas.retrieval import (
    AssembleIn, AssembleOut, ContextItemOut, DroppedOut, FiltersIn, RetrievalDefaults, RetrieverScore, ScoresOut,
    SearchHitOut, SearchIn, SearchOut, SectionOut, TraceOut,
)
from agentmem.memory.namespaces import set_retrieval_defaults
from agentmem.retrieval import traces
from agentmem.memory.provenance import UNTRUSTED, parse_rules
from agentmem.retrieval.assemble import Assembled, AssembleRequest, assemble, hit_trust, write_trace
from agentmem.retrieval.budget import Reserve
from agentmem.retrieval.expansion import expansion_of
from agentmem.retrieval.filters import Filters, TrustFloor
from agentmem.retrieval.packing import trust_of
from agentmem.retrieval.search import QueryEmbedder, SearchRequest, find, query_embedder

router = APIRouter(tags=["retrieval"])

RetrievalEditorDep = Annotated[Principal, Depends(require_role("operator", "changing the retrieval settings"))]


def to_filters(f: FiltersIn | None, who: Principal | None = None, min_trust: str | None = None) -> Filters:
    floor = TrustFloor(parse_rules(who.trust), min_trust) if who is not None and min_trust is not None else None
    if f is None:
        return Filters(min_trust=floor)
    rng = f.source_updated_at
    return Filters(
        kinds=tuple(f.kind or ()), metadata=f.metadata or {},
        updated_from=rng.gte if rng else None, updated_before=rng.lt if rng else None, min_trust=floor,
    )


@router.post("/search", response_model=SearchOut)
def search(body: SearchIn, who: ReadDep, services: ServicesDep) -> SearchOut:
    if body.mode and body.strategy:
        raise InvalidInput("give either mode or strategy, not both")
    req = SearchRequest(
        query=body.query, k=body.k, filters=to_filters(body.filters, who, body.min_trust), strategy=body.strategy,
        mode=body.mode,
        rrf_k=body.rrf_k, weights=body.weights.model_dump(exclude_none=True) if body.weights else None,
        unit=body.unit,
    )
    found = find(services.pool, _query_embedder(services), services.executor,
                 services.settings.exact_search_max_chunks, who, req)
    out = []
    rules = parse_rules(who.trust)
    for r in found.results:
        h = r.hit
        scores = None
        if body.explain:
            parts: dict[str, Any] = {n: RetrieverScore(rank=x.rank, score=x.score) for n, x in r.by_retriever.items()}
            scores = ScoresOut(fused=r.score, **parts)
        out.append(SearchHitOut(id=h.chunk_id, document_id=h.document_id, source_uri=h.source_uri, title=h.title,
                                kind=h.kind, text=h.text, score=r.score, metadata=h.metadata,
                                freshness=r.freshness, scores=scores, trust=hit_trust(rules, h), origin=h.origin))
    return SearchOut(results=out, strategy=found.strategy.name)


@router.post("/context/assemble", response_model=AssembleOut)
def assemble_context(body: AssembleIn, who: ReadDep, services: ServicesDep, request: Request,
                     after: BackgroundTasks) -> AssembleOut:
    req = AssembleRequest(
        query=body.query, budget_tokens=body.budget_tokens, task_id=body.task_id,
        reserve=Reserve(**body.reserve.model_dump()) if body.reserve else Reserve(), filters=to_filters(body.filters),
        strategy=body.strategy, as_messages=body.format == "messages", exclude_flagged=body.exclude_flagged,
        min_trust=body.min_trust, trace_id=tracing.assemble_trace_id(request.scope),
    )
    a = assemble(services.pool, _query_embedder(services), services.executor,
                 services.settings.exact_search_max_chunks, who, req, expansion_of(services.settings))
    tracing.record_assemble(request.scope, request.app.state.tracing, who.namespace, req, a)
    # The trace row is written once the response is sent: the caller does not wait for its insert (a GET
    # for it meanwhile waits for it: api/pending_traces.py).
    PENDING.add(a.trace_id)
    after.add_task(_write_trace, services.pool, who, req, a)
    p = a.packed
    sections = []
    if p.pinned_text:
        sections.append(SectionOut(tier="pinned", tokens=p.pinned_tokens, items=[ContextItemOut(
            id=str(body.task_id), ref="task", kind="pinned", text=p.pinned_text, tokens=p.pinned_tokens,
            trust=trust_of("pinned") if a.pinned_origin == "operator" else UNTRUSTED, origin=a.pinned_origin, flags=[],
        )]))
    for tier in ("scratchpad", "long_term"):
        if a.items[tier]:
            sections.append(SectionOut(tier=tier, tokens=p.section_tokens[tier],  # type: ignore[arg-type]
                                       items=[ContextItemOut(**i) for i in a.items[tier]]))
    return AssembleOut(
        context=p.text, tokens=p.tokens, budget_tokens=body.budget_tokens, sections=sections,  # type: ignore[arg-type]
        dropped=[DroppedOut(id=d.id, tier=d.tier, reason=d.reason) for d in a.dropped],  # type: ignore[arg-type]
        trace_id=a.trace_id, timings_ms=a.timings,
    )


def _query_embedder(services: Services) -> QueryEmbedder:
    """The namespace's model embeds the query; the process's word cache spares repeated lookups."""
    return query_embedder(services.embedders, services.default_model, services.common_words)


def _write_trace(pool: Any, who: Principal, req: AssembleRequest, a: Assembled) -> None:
    try:
        write_trace(pool, who, req, a)
    finally:
        PENDING.done(a.trace_id)


@router.get("/context/traces/{trace_id}", response_model=TraceOut)
def get_trace(trace_id: uuid.UUID, who: ReadDep, services: ServicesDep) -> TraceOut:
    PENDING.wait(trace_id)  # its call was answered here a moment ago: the row is being written
    with services.pool.connection() as conn:
        return TraceOut(**asdict(traces.get(conn, who.namespace_id, trace_id)))


@router.get("/settings/retrieval", response_model=RetrievalDefaults)
def get_retrieval_defaults(who: ReadDep) -> RetrievalDefaults:
    return RetrievalDefaults.model_validate(who.retrieval or {})


@router.put("/settings/retrieval", response_model=RetrievalDefaults)
def put_retrieval_defaults(body: RetrievalDefaults, conn: ConnDep, who: RetrievalEditorDep) -> RetrievalDefaults:
    set_retrieval_defaults(conn, who, body.model_dump(exclude_none=True))
    return body
