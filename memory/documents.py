"""Long-term memory: documents upserted by source_uri, single memories, their chunks and vectors.

Chunking and embedding happen before the transaction (they are slow and need no locks); the
transaction then swaps the document row, its version record and all its chunks at once, so a
reader sees either the old version's chunks or the new one's, never both and never a part.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from functools import cached_property
from datetime import datetime, timedelta
from typing import Any, Sequence

import numpy as np
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import Conflict, NotFound
from agentmem.core.snapshot import read_snapshot
from agentmem.core.tokens import count_tokens, encoding
from agentmem.embeddings.models import NamespaceModels, adopt_default, default_model, namespace_models
from agentmem.embeddings.registry import Embedders
from agentmem.memory.chunk_store import write_chunks
from agentmem.memory.chunking import Chunk, chunk_text
from agentmem.memory.hashing import content_hash
from agentmem.memory.keys import written_by
from agentmem.memory.namespaces import Principal
from agentmem.memory.provenance import lower_trust_write, parse_rules, trust_of

_COLUMNS = (
    "id, source_uri, kind, title, metadata, context, content_hash, tokens, version, task_id, source_updated_at,"
    " ingested_at, updated_at, last_verified_at,"
    " extract(epoch FROM refresh_interval)::float8 / 86400.0 AS refresh_interval_days, screening, origin, "
    + written_by("documents.written_by")
)


@dataclass(frozen=True)
class DocumentInput:
    source_uri: str
    text: str
    kind: str = "document"
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source_updated_at: datetime | None = None
    task_id: uuid.UUID | None = None
    context: str | None = None  # indexed with every chunk (embedding and keywords), never shown
    refresh_interval_days: float | None = None  # None: the namespace's (memory/freshness.py)
    origin: str = "agent"  # as declared by the writer, within its key's role (memory/provenance.py)


def index_text(context: str | None, text: str) -> str:
    """What is embedded for a chunk: its context (title, preceding turn) then its own text."""
    return f"{context}\n{text}" if context else text


TITLE_INDEX_TOKENS = 64  # NFCorpus's longest title has 63; a chunk's own text is 128


def chunk_context(title: str | None, context: str | None) -> str | None:
    """What every chunk of a document is indexed with besides its own text: the title, then the caller's
    context. A chunk in the middle of an abstract seldom names its subject; with the title its vector
    does (NFCorpus dev, vector nDCG@10 0.292 -> 0.317; docs/retrieval.md, "Titles in chunk vectors").
    Only the title's first TITLE_INDEX_TOKENS tokens: the model reads 256 word pieces, and a title of
    up to 2,000 characters would otherwise push every chunk's own text out of its vector."""
    parts = [p for p in (title and index_title(title), context) if p and p.strip()]
    return "\n".join(parts) if parts else None


def index_title(title: str) -> str:
    """`title` cut to its first TITLE_INDEX_TOKENS tokens, at a word's end when it has more than one word."""
    ids = encoding().encode(title, disallowed_special=())
    if len(ids) <= TITLE_INDEX_TOKENS:
        return title
    head = encoding().decode(ids[:TITLE_INDEX_TOKENS])
    words = head.split()
    return " ".join(words[:-1]) if len(words) > 1 else head.replace("\ufffd", "")


@dataclass(frozen=True)
class Document:
    id: uuid.UUID
    source_uri: str
    kind: str
    title: str | None
    metadata: dict[str, Any]
    context: str | None
    content_hash: str
    tokens: int
    version: int
    task_id: uuid.UUID | None
    source_updated_at: datetime | None
    ingested_at: datetime
    updated_at: datetime
    last_verified_at: datetime
    refresh_interval_days: float | None
    written_by: dict[str, Any] | None  # the key that wrote this version: {key_id, label}
    screening: str  # clean | flagged | quarantined | released (memory/write_screen.py)
    origin: str  # operator | agent | tool | web | user (memory/provenance.py)


@dataclass(frozen=True)
class StoredDocument(Document):
    text: str


@dataclass(frozen=True)
class StoredChunk:
    id: int
    ord: int
    text: str
    tokens: int
    embedding_model: str
    embedding_model_version: str


@dataclass(frozen=True)
class UpsertResult:
    id: uuid.UUID
    version: int
    status: str  # created | updated | unchanged
    chunks: int


@dataclass
class Prepared:
    """A document chunked and embedded (by model id), ready to be written."""

    doc: DocumentInput
    hash: str
    chunks: list[Chunk]
    vectors: dict[int, np.ndarray] = field(default_factory=dict)

    def inputs(self) -> list[str]:
        return [index_text(self.context, c.text) for c in self.chunks]

    @cached_property
    def context(self) -> str | None:
        """Read once per chunk (its embedding input, its row): the title is cut to tokens once."""
        return chunk_context(self.doc.title, self.doc.context)


def prepare(docs: Sequence[DocumentInput], embedders: Embedders, models: NamespaceModels,
            chunk_tokens: int, namespace_id: int | None = None) -> list[Prepared]:
    """Chunk every document and embed all their chunks in one call per model (batching is where speed is).

    While the namespace migrates, chunks are embedded by the target model too, so that a write never
    leaves the migration a chunk behind.
    """
    prepared = [Prepared(d, content_hash(d.text), chunk_text(d.text, chunk_tokens)) for d in docs]
    texts = [t for p in prepared for t in p.inputs()]
    for model in models.current():
        vectors = embedders.get(model.name, model.version).embed(texts, namespace_id)
        offset = 0
        for p in prepared:
            p.vectors[model.id] = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
    return prepared


def known_content(conn: psycopg.Connection[Any], who: Principal, uris: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """(content hash, chunk context) of the documents already stored under these source URIs."""
    rows = conn.execute(
        "SELECT source_uri, content_hash, title, context FROM documents"
        " WHERE namespace_id = %(ns)s AND source_uri = ANY(%(uris)s)",
        {"ns": who.namespace_id, "uris": list(uris)},
    ).fetchall()
    return {r[0]: (r[1], chunk_context(r[2], r[3])) for r in rows}


def lower_trust_refusals(conn: psycopg.Connection[Any], who: Principal, docs: Sequence[DocumentInput]) -> dict[str, str]:
    """Why each document that would displace a higher-trust stored one is refused, by source_uri (a batch
    answers these items alone; write_prepared checks again under the row lock)."""
    rows = conn.cursor(row_factory=class_row(Document)).execute(
        f"SELECT {_COLUMNS} FROM documents WHERE namespace_id = %(ns)s AND source_uri = ANY(%(uris)s)",
        {"ns": who.namespace_id, "uris": [d.source_uri for d in docs]},
    ).fetchall()
    stored = {r.source_uri: r for r in rows}
    refused = {}
    for d in docs:
        if d.source_uri in stored:
            try:
                _keep_higher_trust(who, stored[d.source_uri], d)
            except Conflict as exc:
                refused[d.source_uri] = exc.message
    return refused


def write_prepared(conn: psycopg.Connection[Any], who: Principal, p: Prepared, embedders: Embedders,
                   chunk_tokens: int, screening: str = "clean",
                   screening_flags: dict[str, list[str]] | None = None) -> UpsertResult:
    """Write one document in one transaction: insert, replace its chunks, or confirm it unchanged.

    A quarantined document is stored without chunks: no search or assembly can reach it until
    memory.quarantine.release writes them."""
    d = p.doc
    default = default_model(conn, embedders)
    adopt_default(conn, who.namespace_id, default)
    with conn.transaction():
        # First lock: the namespace's models cannot change (a migration's flip) until this commits.
        models = namespace_models(conn, who.namespace_id, default, lock="share")
        cur = conn.cursor(row_factory=class_row(Document))
        old = cur.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE namespace_id = %(ns)s AND source_uri = %(uri)s FOR UPDATE",
            {"ns": who.namespace_id, "uri": d.source_uri},
        ).fetchone()
        if old is not None:
            _keep_higher_trust(who, old, d)
        if (old is not None and old.content_hash == p.hash and chunk_context(old.title, old.context) == p.context
                and (old.screening == screening or (old.screening == "released" and screening != "clean"))):
            if (old.title, old.metadata, old.source_updated_at, old.refresh_interval_days, old.origin) == (
                    d.title, d.metadata, d.source_updated_at, d.refresh_interval_days, d.origin):
                conn.execute("UPDATE documents SET last_verified_at = now() WHERE id = %(id)s", {"id": old.id})
                return UpsertResult(old.id, old.version, "unchanged", _chunk_count(conn, old.id))
            # Same text, new title or metadata: a new version that keeps its chunks and vectors.
            conn.execute(
                "UPDATE documents SET title = %(title)s, metadata = %(metadata)s,"
                " source_updated_at = %(src)s, refresh_interval = %(refresh)s, version = version + 1,"
                " updated_at = now(), last_verified_at = now(), written_by = %(key)s, origin = %(origin)s"
                " WHERE id = %(id)s",
                {"id": old.id, "title": d.title, "metadata": Jsonb(d.metadata), "src": d.source_updated_at,
                 "key": who.key_id, "refresh": _interval(d.refresh_interval_days), "origin": d.origin},
            )
            conn.execute(  # metadata lives on the document alone; the source time is a filter column of chunks
                "UPDATE chunks SET source_updated_at = %(src)s WHERE document_id = %(id)s"
                " AND source_updated_at IS DISTINCT FROM %(src)s",
                {"id": old.id, "src": d.source_updated_at},
            )
            n = _chunk_count(conn, old.id)
            _record_version(conn, who, old.id, old.version + 1, p.hash, old.tokens, n, d.origin)
            return UpsertResult(old.id, old.version + 1, "updated", n)
        for model in models.current() if screening != "quarantined" else ():
            if model.id not in p.vectors:
                # Content or models changed since the caller looked (a concurrent writer, a flip): rare.
                p.vectors[model.id] = embedders.get(model.name, model.version).embed(p.inputs(), who.namespace_id)
        tokens = count_tokens(d.text)
        params = {
            "ns": who.namespace_id, "uri": d.source_uri, "kind": d.kind, "title": d.title,
            "metadata": Jsonb(d.metadata), "text": d.text, "context": d.context, "hash": p.hash, "tokens": tokens,
            "task": d.task_id, "src": d.source_updated_at, "key": who.key_id,
            "refresh": _interval(d.refresh_interval_days),
            "screening": screening, "flags": Jsonb(screening_flags or {}), "origin": d.origin,
        }
        if old is None:
            row = conn.execute(
                "INSERT INTO documents (namespace_id, source_uri, kind, title, metadata, text, context, content_hash,"
                " tokens, task_id, source_updated_at, written_by, refresh_interval, screening, screening_flags, origin)"
                " VALUES (%(ns)s, %(uri)s, %(kind)s, %(title)s, %(metadata)s, %(text)s, %(context)s, %(hash)s,"
                " %(tokens)s, %(task)s, %(src)s, %(key)s, %(refresh)s, %(screening)s, %(flags)s, %(origin)s)"
                " RETURNING id",
                params,
            ).fetchone()
            assert row is not None
            doc_id, version, status = row[0], 1, "created"
        else:
            doc_id, version, status = old.id, old.version + 1, "updated"
            conn.execute(
                "UPDATE documents SET kind = %(kind)s, title = %(title)s, metadata = %(metadata)s,"
                " text = %(text)s, context = %(context)s, content_hash = %(hash)s, tokens = %(tokens)s,"
                " version = version + 1,"
                " source_updated_at = %(src)s, refresh_interval = %(refresh)s, written_by = %(key)s,"
                " screening = %(screening)s, screening_flags = %(flags)s, origin = %(origin)s,"
                " updated_at = now(), last_verified_at = now() WHERE id = %(id)s",
                {**params, "id": doc_id},
            )
            conn.execute("DELETE FROM chunks WHERE document_id = %(id)s", {"id": doc_id})
        if screening == "quarantined":
            _record_version(conn, who, doc_id, version, p.hash, tokens, 0, d.origin)
            return UpsertResult(doc_id, version, status, 0)
        write_chunks(conn, who, doc_id, p, models)
        _record_version(conn, who, doc_id, version, p.hash, tokens, len(p.chunks), d.origin)
    return UpsertResult(doc_id, version, status, len(p.chunks))


def _interval(days: float | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)


def _record_version(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID, version: int, hash_: str,
                    tokens: int, chunks: int, origin: str) -> None:
    conn.execute(
        "INSERT INTO document_versions (document_id, version, content_hash, tokens, chunks, written_by, origin)"
        " VALUES (%(id)s, %(version)s, %(hash)s, %(tokens)s, %(chunks)s, %(key)s, %(origin)s)",
        {"id": doc_id, "version": version, "hash": hash_, "tokens": tokens, "chunks": chunks, "key": who.key_id,
         "origin": origin},
    )


def _keep_higher_trust(who: Principal, old: Document, d: DocumentInput) -> None:
    """Refuse (409) a write from an origin of lower trust than the stored item's, by the namespace's rules
    now (the new text's own flags do not count: an operator may replace its own item by anything)."""
    rules = parse_rules(who.trust)
    before = trust_of(rules, old.source_uri, old.origin, old.screening in ("flagged", "quarantined"))
    after = trust_of(rules, d.source_uri, d.origin)
    lower_trust_write(before, after, d.source_uri, old.origin, d.origin)


def _chunk_count(conn: psycopg.Connection[Any], doc_id: uuid.UUID) -> int:
    row = conn.execute("SELECT count(*) FROM chunks WHERE document_id = %(id)s", {"id": doc_id}).fetchone()
    return int(row[0]) if row else 0


def current_models(conn: psycopg.Connection[Any], embedders: Embedders, namespace_id: int) -> NamespaceModels:
    """The models to embed with before a write (checked again, under a lock, inside its transaction)."""
    default = default_model(conn, embedders)
    adopt_default(conn, namespace_id, default)
    return namespace_models(conn, namespace_id, default)


def upsert_documents(
    conn: psycopg.Connection[Any], embedders: Embedders, who: Principal, docs: Sequence[DocumentInput],
    chunk_tokens: int, states: Sequence[Screening] | None = None,
) -> list[UpsertResult]:
    """Upsert each document in its own transaction; unchanged ones are never re-embedded.

    `states`, one per document, is its screening state and flags (memory/write_screen.py); default clean.

    Changed text is embedded here, synchronously: a write never leaves a stale vector behind. The
    re-embedding job only handles model changes and chunks changed behind the service's back.
    """
    screenings = _screenings(docs, states)
    to_embed, models = _to_embed(conn, embedders, who, docs, screenings)
    prepared = prepare(to_embed, embedders, models, chunk_tokens, who.namespace_id)
    return _write_all(conn, who, docs, screenings, prepared, embedders, chunk_tokens)


def upsert_pooled(pool: Any, embedders: Embedders, who: Principal, docs: Sequence[DocumentInput],
                  chunk_tokens: int, states: Sequence[Screening] | None = None) -> list[UpsertResult]:
    """upsert_documents for a request: no connection is held while the chunks are embedded (the slow
    part, seconds for a large batch), so a batch in the embedding queue leaves the pool to others."""
    screenings = _screenings(docs, states)
    with pool.connection() as conn:
        to_embed, models = _to_embed(conn, embedders, who, docs, screenings)
    prepared = prepare(to_embed, embedders, models, chunk_tokens, who.namespace_id)
    with pool.connection() as conn:
        return _write_all(conn, who, docs, screenings, prepared, embedders, chunk_tokens)


Screening = tuple[str, dict[str, list[str]]]  # a write's screening state and flags


def _screenings(docs: Sequence[DocumentInput], states: Sequence[Screening] | None) -> list[Screening]:
    return list(states) if states is not None else [("clean", {})] * len(docs)


def _to_embed(conn: psycopg.Connection[Any], embedders: Embedders, who: Principal, docs: Sequence[DocumentInput],
              screenings: list[Screening]) -> tuple[list[DocumentInput], NamespaceModels]:
    """The documents whose content is new and not quarantined (never searched, so never embedded), and
    the models to embed them with (checked again on write)."""
    stored = known_content(conn, who, [d.source_uri for d in docs])
    to_embed = [d for d, (state, _) in zip(docs, screenings, strict=True)
                if state != "quarantined"
                and stored.get(d.source_uri) != (content_hash(d.text), chunk_context(d.title, d.context))]
    return to_embed, current_models(conn, embedders, who.namespace_id)


def _write_all(conn: psycopg.Connection[Any], who: Principal, docs: Sequence[DocumentInput],
               screenings: list[Screening], prepared: list[Prepared], embedders: Embedders,
               chunk_tokens: int) -> list[UpsertResult]:
    by_doc = {id(p.doc): p for p in prepared}
    results = []
    for d, (state, flags) in zip(docs, screenings, strict=True):
        p = by_doc.get(id(d)) or Prepared(d, content_hash(d.text), chunk_text(d.text, chunk_tokens))
        results.append(_write_with_retry(conn, who, p, embedders, chunk_tokens, state, flags))
    return results


def _write_with_retry(conn: psycopg.Connection[Any], who: Principal, p: Prepared, embedders: Embedders,
                      chunk_tokens: int, state: str = "clean", flags: dict[str, list[str]] | None = None,
                      ) -> UpsertResult:
    try:
        return write_prepared(conn, who, p, embedders, chunk_tokens, state, flags)
    except psycopg.errors.UniqueViolation:
        # Another writer created the same source_uri between our look and our insert: now it exists.
        return write_prepared(conn, who, p, embedders, chunk_tokens, state, flags)


def get_document(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID) -> tuple[Document, str, list[StoredChunk]]:
    """The document, its text and its chunks, all of one version (one snapshot: a concurrent upsert
    commits either before all three reads or after them)."""
    with read_snapshot(conn):
        cur = conn.cursor(row_factory=class_row(StoredDocument))
        stored = cur.execute(
            f"SELECT {_COLUMNS}, text FROM documents WHERE id = %(id)s AND namespace_id = %(ns)s",
            {"id": doc_id, "ns": who.namespace_id},
        ).fetchone()
        if stored is None:
            raise NotFound(f"no document with id {doc_id} in this namespace")
        chunks = conn.cursor(row_factory=class_row(StoredChunk)).execute(
            "SELECT c.id, c.ord, c.text, c.tokens, m.name AS embedding_model, m.version AS embedding_model_version"
            " FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
            " WHERE c.document_id = %(id)s ORDER BY c.ord",
            {"id": doc_id},
        ).fetchall()
    doc = Document(**{f.name: getattr(stored, f.name) for f in fields(Document)})
    return doc, stored.text, chunks


def delete_document(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID) -> dict[str, int]:
    """Delete a document with its chunks (vectors and keyword entries live in the chunk rows)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT (SELECT count(*) FROM chunks WHERE document_id = d.id),"
            " (SELECT count(*) FROM document_versions WHERE document_id = d.id)"
            " FROM documents d WHERE d.id = %(id)s AND d.namespace_id = %(ns)s FOR UPDATE",
            {"id": doc_id, "ns": who.namespace_id},
        ).fetchone()
        if row is None:
            raise NotFound(f"no document with id {doc_id} in this namespace")
        conn.execute("DELETE FROM documents WHERE id = %(id)s", {"id": doc_id})
    return {"documents": 1, "chunks": row[0], "document_versions": row[1]}
