"""Freshness in SQL: the formula of memory/freshness.py over the documents table, per document or namespace.

Whether a document's vectors are current is read from `stale_chunks` (migration 0009), which
triggers keep at every write, re-embedding and model flip: a row per chunk whose vectors are not
current. So these queries do work proportional to the documents (and the few stale chunks), never
re-hash chunk text. A namespace without an active model yet (its chunks written behind the service's
back) falls back to comparing model names with the service's default, as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import psycopg
from psycopg.rows import dict_row

from agentmem.memory.freshness import MAX_HALVINGS, MAX_REFRESH_DAYS, MIN_REFRESH_DAYS, FreshnessPolicy, is_stale

# Per document: the interval (its own, or the namespace's), clamped like safe_interval_days.
_INTERVAL_DAYS_SQL = (
    "least(greatest(coalesce(extract(epoch FROM d.refresh_interval)::float8 / 86400.0, %(default_days)s),"
    f" {MIN_REFRESH_DAYS!r}), {MAX_REFRESH_DAYS!r})"
)
_VECTORS_CURRENT_SQL = (
    "(NOT EXISTS (SELECT 1 FROM stale_chunks s WHERE s.document_id = d.id) AND (n.active_model_id IS NOT NULL"
    " OR NOT EXISTS (SELECT 1 FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    "  WHERE c.document_id = d.id AND m.name <> %(model)s)))"
)
SCORE_SQL = (
    f"CASE WHEN {_VECTORS_CURRENT_SQL} THEN power(0.5::float8, least(greatest(0::float8,"
    f" extract(epoch FROM now() - d.last_verified_at)::float8) / 86400.0 / {_INTERVAL_DAYS_SQL}, {MAX_HALVINGS!r}))"
    f" ELSE 0::float8 END"
)
_FROM = "FROM documents d JOIN namespaces n ON n.id = d.namespace_id"


@dataclass(frozen=True)
class DocumentFreshness:
    document_id: uuid.UUID
    source_uri: str
    kind: str
    score: float
    stale: bool
    last_verified_at: datetime
    source_updated_at: datetime | None
    ingested_at: datetime
    updated_at: datetime
    content_hash: str
    refresh_interval_days: float
    vectors_current: bool
    embedding_models: list[str]


@dataclass(frozen=True)
class NamespaceFreshness:
    score: float | None  # mean over documents; None when there are none
    documents: int
    stale: int
    policy: FreshnessPolicy
    worst: list[DocumentFreshness]


_DOC_COLUMNS = (
    f"d.id AS document_id, d.source_uri, d.kind, ({SCORE_SQL}) AS score, d.last_verified_at,"
    f" d.source_updated_at, d.ingested_at, d.updated_at, d.content_hash,"
    f" {_INTERVAL_DAYS_SQL} AS refresh_interval_days, {_VECTORS_CURRENT_SQL} AS vectors_current"
)
# The models of a few documents' chunks: read after the LIMIT, never for the whole namespace.
_MODELS_SQL = (
    "ARRAY(SELECT DISTINCT m.name FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    " WHERE c.document_id = w.document_id ORDER BY 1) AS embedding_models"
)


def _params(policy: FreshnessPolicy, model: str, **extra: Any) -> dict[str, Any]:
    return {"default_days": policy.refresh_interval_days, "model": model, **extra}


def _doc(row: dict[str, Any], policy: FreshnessPolicy) -> DocumentFreshness:
    return DocumentFreshness(**row, stale=is_stale(row["score"], policy))


def document_freshness(conn: psycopg.Connection[Any], namespace_id: int, document_id: uuid.UUID,
                       policy: FreshnessPolicy, model: str) -> DocumentFreshness | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT w.*, {_MODELS_SQL} FROM (SELECT {_DOC_COLUMNS} {_FROM}"
            f" WHERE d.namespace_id = %(ns)s AND d.id = %(id)s) w",
            _params(policy, model, ns=namespace_id, id=document_id)).fetchone()
    return _doc(row, policy) if row else None


def namespace_freshness(conn: psycopg.Connection[Any], namespace_id: int, policy: FreshnessPolicy, model: str,
                        worst: int = 10) -> NamespaceFreshness:
    """The mean score, how many documents are stale, and the `worst` stalest ones."""
    params = _params(policy, model, ns=namespace_id, below=policy.stale_below, n=worst)
    agg = conn.execute(
        f"SELECT count(*), avg(s), count(*) FILTER (WHERE s < %(below)s)"
        f" FROM (SELECT ({SCORE_SQL}) AS s {_FROM} WHERE d.namespace_id = %(ns)s OFFSET 0) x",  # each score once
        params,
    ).fetchone()
    assert agg is not None
    rows: list[dict[str, Any]] = []
    if worst > 0:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT w.*, {_MODELS_SQL} FROM (SELECT {_DOC_COLUMNS} {_FROM} WHERE d.namespace_id = %(ns)s"
                f" ORDER BY score, d.last_verified_at, d.id LIMIT %(n)s) w"
                f" ORDER BY w.score, w.last_verified_at, w.document_id", params).fetchall()
    return NamespaceFreshness(score=float(agg[1]) if agg[1] is not None else None, documents=int(agg[0]),
                              stale=int(agg[2]), policy=policy, worst=[_doc(r, policy) for r in rows])


def freshness_by_document(conn: psycopg.Connection[Any], namespace_id: int, document_ids: Sequence[uuid.UUID],
                          policy: FreshnessPolicy, model: str) -> dict[uuid.UUID, float]:
    """Scores of these documents (those that exist), for ranking and for reporting on results."""
    if not document_ids:
        return {}
    rows = conn.execute(
        f"SELECT d.id, ({SCORE_SQL}) {_FROM} WHERE d.namespace_id = %(ns)s AND d.id = ANY(%(ids)s)",
        _params(policy, model, ns=namespace_id, ids=list(document_ids)),
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def freshness_by_source(conn: psycopg.Connection[Any], namespace_id: int, source_uris: Sequence[str],
                        policy: FreshnessPolicy, model: str) -> dict[str, float]:
    """Scores of the documents stored under these source URIs (absent ones are left out)."""
    if not source_uris:
        return {}
    rows = conn.execute(
        f"SELECT d.source_uri, ({SCORE_SQL}) {_FROM}"
        f" WHERE d.namespace_id = %(ns)s AND d.source_uri = ANY(%(uris)s)",
        _params(policy, model, ns=namespace_id, uris=list(source_uris)),
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}
