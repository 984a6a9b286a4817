"""Freshness: how far to trust that a stored document still says what its source says.

A document is confirmed against its source whenever it is upserted (created, updated, or answered
`unchanged`: `last_verified_at`). Each namespace expects its sources to be re-checked every
`refresh_interval` (30 days unless configured; a document may override it). The score:

    freshness = 0.5 ** (time since last verification / refresh interval)    in (0, 1]

1.0 when just verified, 0.5 when one interval has passed without a check (the default `stale_below`
threshold: the refresh is overdue), 0.25 after two. It is 0 when the document's vectors were not
made by the namespace's active embedding model, or no longer match its content (they must be
re-embedded before retrieval can be trusted on it).

As a ranking signal (`weight` w in [0, 1], 0 by default) a result's fused score is multiplied by
(1 - w + w * freshness): scale-free, so it works the same for RRF, cosine or BM25 scores, and
w = 0 leaves rankings exactly as they were.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import psycopg
from psycopg.rows import dict_row

DEFAULT_REFRESH_DAYS = 30.0
DEFAULT_STALE_BELOW = 0.5
DEFAULT_WEIGHT = 0.0
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class FreshnessPolicy:
    """A namespace's freshness settings (namespaces.freshness), with the documented defaults."""

    refresh_interval_days: float = DEFAULT_REFRESH_DAYS
    stale_below: float = DEFAULT_STALE_BELOW
    weight: float = DEFAULT_WEIGHT

    @classmethod
    def from_settings(cls, stored: dict[str, Any] | None) -> FreshnessPolicy:
        stored = stored or {}
        return cls(**{k: float(stored[k]) for k in ("refresh_interval_days", "stale_below", "weight") if k in stored})


def freshness_score(now: datetime, last_verified_at: datetime, refresh_interval_days: float,
                    vectors_current: bool = True) -> float:
    """The formula above. Pure; the SQL in SCORE_SQL computes the same (tested against this)."""
    if not vectors_current:
        return 0.0
    age_days = max(0.0, (now - last_verified_at).total_seconds() / SECONDS_PER_DAY)
    return math.pow(0.5, age_days / refresh_interval_days)


def is_stale(score: float, policy: FreshnessPolicy) -> bool:
    return score < policy.stale_below


def weighted(score: float, freshness: float, weight: float) -> float:
    """A ranking score adjusted by freshness: unchanged at weight 0, scaled by freshness at weight 1."""
    return score * (1.0 - weight + weight * freshness)


# Per document: the interval (its own, or the namespace's), and whether every chunk's vector was made
# by the active model from the chunk's current content.
_INTERVAL_DAYS_SQL = "coalesce(extract(epoch FROM d.refresh_interval) / 86400.0, %(default_days)s)"
_VECTORS_CURRENT_SQL = (
    "NOT EXISTS (SELECT 1 FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    " JOIN namespaces n ON n.id = c.namespace_id WHERE c.document_id = d.id"
    " AND (CASE WHEN n.active_model_id IS NULL THEN m.name <> %(model)s ELSE c.embedding_model_id <> n.active_model_id END"
    "      OR c.embedded_hash <> embedding_input_hash(c.context, c.text)))"
)
SCORE_SQL = (
    f"CASE WHEN {_VECTORS_CURRENT_SQL} THEN power(0.5, greatest(0, extract(epoch FROM now() - d.last_verified_at))"
    f" / 86400.0 / {_INTERVAL_DAYS_SQL}) ELSE 0 END"
)


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


_DOC_SQL = (
    f"SELECT d.id AS document_id, d.source_uri, d.kind, ({SCORE_SQL})::float8 AS score, d.last_verified_at,"
    f" d.source_updated_at, d.ingested_at, d.updated_at, d.content_hash,"
    f" ({_INTERVAL_DAYS_SQL})::float8 AS refresh_interval_days, {_VECTORS_CURRENT_SQL} AS vectors_current,"
    f" ARRAY(SELECT DISTINCT m.name FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    f" WHERE c.document_id = d.id ORDER BY 1)"
    f" AS embedding_models FROM documents d"
)


def _params(policy: FreshnessPolicy, model: str, **extra: Any) -> dict[str, Any]:
    return {"default_days": policy.refresh_interval_days, "model": model, **extra}


def _doc(row: dict[str, Any], policy: FreshnessPolicy) -> DocumentFreshness:
    return DocumentFreshness(**row, stale=is_stale(row["score"], policy))


def document_freshness(conn: psycopg.Connection[Any], namespace_id: int, document_id: uuid.UUID,
                       policy: FreshnessPolicy, model: str) -> DocumentFreshness | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_DOC_SQL} WHERE d.namespace_id = %(ns)s AND d.id = %(id)s",
                          _params(policy, model, ns=namespace_id, id=document_id)).fetchone()
    return _doc(row, policy) if row else None


def namespace_freshness(conn: psycopg.Connection[Any], namespace_id: int, policy: FreshnessPolicy, model: str,
                        worst: int = 10) -> NamespaceFreshness:
    """The mean score, how many documents are stale, and the `worst` stalest ones."""
    params = _params(policy, model, ns=namespace_id, below=policy.stale_below, n=worst)
    agg = conn.execute(
        f"SELECT count(*), avg(s), count(*) FILTER (WHERE s < %(below)s)"
        f" FROM (SELECT ({SCORE_SQL}) AS s FROM documents d WHERE d.namespace_id = %(ns)s) x",
        params,
    ).fetchone()
    assert agg is not None
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"{_DOC_SQL} WHERE d.namespace_id = %(ns)s ORDER BY score, d.last_verified_at, d.id"
                           f" LIMIT %(n)s", params).fetchall()
    return NamespaceFreshness(score=float(agg[1]) if agg[1] is not None else None, documents=int(agg[0]),
                              stale=int(agg[2]), policy=policy, worst=[_doc(r, policy) for r in rows])


def freshness_by_document(conn: psycopg.Connection[Any], namespace_id: int, document_ids: Sequence[uuid.UUID],
                          policy: FreshnessPolicy, model: str) -> dict[uuid.UUID, float]:
    """Scores of these documents (those that exist), for ranking and for reporting on results."""
    if not document_ids:
        return {}
    rows = conn.execute(
        f"SELECT d.id, ({SCORE_SQL})::float8 FROM documents d WHERE d.namespace_id = %(ns)s AND d.id = ANY(%(ids)s)",
        _params(policy, model, ns=namespace_id, ids=list(document_ids)),
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def freshness_by_source(conn: psycopg.Connection[Any], namespace_id: int, source_uris: Sequence[str],
                        policy: FreshnessPolicy, model: str) -> dict[str, float]:
    """Scores of the documents stored under these source URIs (absent ones are left out)."""
    if not source_uris:
        return {}
    rows = conn.execute(
        f"SELECT d.source_uri, ({SCORE_SQL})::float8 FROM documents d"
        f" WHERE d.namespace_id = %(ns)s AND d.source_uri = ANY(%(uris)s)",
        _params(policy, model, ns=namespace_id, uris=list(source_uris)),
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}

