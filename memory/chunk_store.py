"""A document's chunks: written with the active model's vectors (and the migration target's, pending).
Moved out of memory/documents.py, which owns the document rows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from agentmem.embeddings.models import Model, NamespaceModels, input_hash
from agentmem.memory.namespaces import Principal

if TYPE_CHECKING:
    from agentmem.memory.documents import Prepared


def write_chunks(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID, p: Prepared,
                 models: NamespaceModels) -> None:
    """The document's chunks with the active model's vectors (and the migration target's, pending)."""
    _copy_chunks(conn, who, doc_id, p, models.active)
    if models.target is not None:
        _write_pending(conn, who, doc_id, p, models.target)


def _checked(vectors: np.ndarray, model: Model, n: int) -> np.ndarray:
    """The vector column takes any dimension: a model that returns the wrong one is a bug, refused here."""
    shapes = {np.shape(v) for v in vectors}
    if len(vectors) != n or shapes - {(model.dimension,)}:
        raise RuntimeError(f"model {model.name} returned vectors of shapes {sorted(shapes)} for {n} texts; "
                           f"expected ({model.dimension},)")
    return vectors


def _copy_chunks(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID, p: Prepared, model: Model) -> None:
    """Chunks carry the document's kind and source time (small, fixed-size filter columns); its metadata
    is stored once, on the document (a copy per chunk let one request write metadata x chunks)."""
    doc = p.doc
    vectors = _checked(p.vectors[model.id], model, len(p.chunks))
    with conn.cursor() as cur, cur.copy(
        "COPY chunks (namespace_id, document_id, kind, ord, text, context, tokens, embedding, embedding_model_id,"
        " embedded_hash, source_updated_at) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "uuid", "text", "int4", "text", "text", "int4", "vector", "int4", "bytea", "timestamptz"])
        for chunk, text, vector in zip(p.chunks, p.inputs(), vectors, strict=True):
            copy.write_row((who.namespace_id, doc_id, doc.kind, chunk.ord, chunk.text, p.context, chunk.tokens,
                            vector, model.id, input_hash(text), doc.source_updated_at))


def _write_pending(conn: psycopg.Connection[Any], who: Principal, doc_id: uuid.UUID, p: Prepared, model: Model) -> None:
    """The migration target's vectors of the chunks just written (moved into place by the flip)."""
    vectors = _checked(p.vectors[model.id], model, len(p.chunks))
    ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE document_id = %s ORDER BY ord", (doc_id,))]
    with conn.cursor() as cur, cur.copy(
        "COPY pending_chunk_vectors (chunk_id, model_id, namespace_id, embedded_hash, embedding)"
        " FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "int8", "bytea", "vector"])
        for chunk_id, text, vector in zip(ids, p.inputs(), vectors, strict=True):
            copy.write_row((chunk_id, model.id, who.namespace_id, input_hash(text), vector))
