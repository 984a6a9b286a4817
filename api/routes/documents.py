"""Long-term memory: documents upserted by source_uri, batches, and single memories."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter
from pydantic import ValidationError

from agentmem.api.deps import AgentDep, ConnDep, IngestDep, ReadDep, ServicesDep, check_size
from agentmem.api.errors import describe_validation_errors
from agentmem.api.schemas.admin import Receipt
from agentmem.api.schemas.base import unstorable
from agentmem.api.schemas.documents import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    ChunkOut,
    DocumentIn,
    DocumentOut,
    MemoryIn,
    UpsertOut,
)
from agentmem.api.schemas.limits import check_document, document_problem
from agentmem.api.schemas.screening import ScreeningOut
from agentmem.core.errors import Forbidden, ScreeningRefused
from agentmem.memory import documents, long_term
from agentmem.memory.namespaces import Principal
from agentmem.memory.provenance import declared_origin, parse_rules, trust_of
from agentmem.memory.write_screen import Policy, Screened, screen_write

router = APIRouter(tags=["long-term memory"])


def _to_input(body: DocumentIn, policy: Policy, who: Principal) -> tuple[documents.DocumentInput, Screened]:
    """Every field that can reach a context is screened; secrets are redacted before anything is stored.
    The origin is the declared one if the key's role allows it (else 403)."""
    origin = declared_origin(who.role, body.origin)
    s = screen_write({"text": body.text, "title": body.title, "source_uri": body.source_uri,
                      "context": body.context, "metadata": body.metadata}, policy)
    f = s.fields
    return documents.DocumentInput(
        source_uri=f["source_uri"], text=f["text"], title=f["title"], context=f["context"],
        metadata=f["metadata"], source_updated_at=body.source_updated_at,
        refresh_interval_days=body.refresh_interval_days, origin=origin,
    ), s


def _policy(who: Principal) -> Policy:
    """The namespace's screening policy, read with the caller's key (memory/namespaces.py): no second connection."""
    return Policy.from_settings(who.screening)


@router.put("/documents", response_model=UpsertOut, dependencies=[IngestDep])
def put_document(body: DocumentIn, who: AgentDep, services: ServicesDep) -> UpsertOut:
    """Identical content answers 'unchanged'; changed content replaces the chunks in one transaction."""
    check_size(len(body.text), services.settings.max_text_chars, "text (characters)", "AGENTMEM_MAX_TEXT_CHARS")
    check_document(body.metadata, body.context, services.settings)
    doc, screened = _to_input(body, _policy(who), who)
    [result] = documents.upsert_pooled(
        services.pool, services.embedders, who, [doc], services.settings.chunk_tokens,
        [(screened.state, screened.flags)],
    )
    return UpsertOut(**asdict(result), screening=ScreeningOut(**screened.report()))


@router.post("/documents/batch", response_model=BatchOut, dependencies=[IngestDep])
def put_batch(body: BatchIn, who: AgentDep, services: ServicesDep) -> BatchOut:
    """Each item is validated and written on its own, and answered on its own."""
    limit = services.settings.max_batch_documents
    check_size(len(body.documents), limit, "the batch (documents)", "AGENTMEM_MAX_BATCH_DOCUMENTS")
    results: list[BatchItemOut | None] = [None] * len(body.documents)
    valid: list[tuple[int, documents.DocumentInput, Screened]] = []
    policy = _policy(who)
    for i, raw in enumerate(body.documents):
        uri = raw.get("source_uri") if isinstance(raw, dict) else None
        if not isinstance(uri, str) or unstorable(uri):
            uri = None  # echoed back only when it can be
        if not isinstance(raw, dict):
            results[i] = BatchItemOut(index=i, status="error", error="a document must be a JSON object")
            continue
        try:
            item = DocumentIn.model_validate(raw)
        except ValidationError as exc:
            _, message, _ = describe_validation_errors(list(exc.errors()))
            results[i] = BatchItemOut(index=i, source_uri=uri, status="error", error=message)
            continue
        if len(item.text) > services.settings.max_text_chars:
            results[i] = BatchItemOut(
                index=i, source_uri=uri, status="error",
                error=f"text is {len(item.text):,} characters; the limit is {services.settings.max_text_chars:,}"
                      " (AGENTMEM_MAX_TEXT_CHARS): split it into several documents",
            )
            continue
        problem = document_problem(item.metadata, item.context, services.settings)
        if problem is not None:
            results[i] = BatchItemOut(index=i, source_uri=uri, status="error", error=problem.message)
            continue
        try:
            doc, screened = _to_input(item, policy, who)
        except (ScreeningRefused, Forbidden) as exc:
            results[i] = BatchItemOut(index=i, source_uri=uri, status="error", error=exc.message)
            continue
        valid.append((i, doc, screened))
    with services.pool.connection() as conn:  # a document that would displace a higher-trust one fails alone
        refused = documents.lower_trust_refusals(conn, who, [d for _, d, _ in valid])
    for i, doc, _ in valid:
        if doc.source_uri in refused:
            results[i] = BatchItemOut(index=i, source_uri=doc.source_uri, status="error", error=refused[doc.source_uri])
    valid = [v for v in valid if v[1].source_uri not in refused]
    written = documents.upsert_pooled(
        services.pool, services.embedders, who, [d for _, d, _ in valid], services.settings.chunk_tokens,
        [(s.state, s.flags) for _, _, s in valid],
    )
    for (i, doc, screened), r in zip(valid, written, strict=True):
        results[i] = BatchItemOut(
            index=i, source_uri=doc.source_uri, status=r.status, id=r.id, version=r.version, chunks=r.chunks,
            screening=ScreeningOut(**screened.report()),
        )
    return BatchOut(results=[r for r in results if r is not None])


@router.get("/documents/{doc_id}", response_model=DocumentOut)
def get_document(doc_id: uuid.UUID, conn: ConnDep, who: ReadDep) -> DocumentOut:
    doc, text, chunks = documents.get_document(conn, who, doc_id)
    trust = "quarantined" if doc.screening == "quarantined" else trust_of(
        parse_rules(who.trust), doc.source_uri, doc.origin, doc.screening == "flagged")
    return DocumentOut(**asdict(doc), text=text, trust=trust, chunks=[ChunkOut(**asdict(c)) for c in chunks])


@router.delete("/documents/{doc_id}", response_model=Receipt)
def delete_document(doc_id: uuid.UUID, conn: ConnDep, who: AgentDep) -> Receipt:
    return Receipt(id=str(doc_id), deleted=documents.delete_document(conn, who, doc_id))


@router.post("/memories", status_code=201, response_model=UpsertOut)
def add_memory(body: MemoryIn, conn: ConnDep, who: AgentDep, services: ServicesDep) -> UpsertOut:
    check_size(len(body.text), services.settings.max_text_chars, "text (characters)", "AGENTMEM_MAX_TEXT_CHARS")
    origin = declared_origin(who.role, body.origin)
    screened = screen_write({"text": body.text, "source": body.source}, _policy(who))
    result = long_term.add_memory(
        conn, services.embedders, who, text=screened.fields["text"], kind=body.kind, source=screened.fields["source"],
        chunk_tokens=services.settings.chunk_tokens, screening=(screened.state, screened.flags),
        origin=origin,
    )
    return UpsertOut(**asdict(result), screening=ScreeningOut(**screened.report()))
