"""What the page reads from tables other concepts own, one small function each.

They only read, and always within the caller's namespace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True)
class ModelStatus:
    """The namespace's embedding model and how far a move to another one has got."""

    active: str  # the model the namespace's vectors are made by (search uses it)
    target: str | None  # the model being migrated to; None when there is no migration
    done: int  # chunks with a vector of the target; == total when there is no migration
    total: int
    job_status: str | None = None  # the latest re-embedding job: queued, running, done, failed
    job_error: str | None = None


def model_status(conn: psycopg.Connection[Any], namespace_id: int, default_model: str) -> ModelStatus:
    """The namespace's active model, the target of a migration and its progress (embeddings/models.py)."""
    row = conn.execute(
        "SELECT coalesce(a.name, %(default)s), t.name, t.id FROM namespaces n"
        " LEFT JOIN embedding_models a ON a.id = n.active_model_id"
        " LEFT JOIN embedding_models t ON t.id = n.target_model_id WHERE n.id = %(ns)s",
        {"ns": namespace_id, "default": default_model},
    ).fetchone()
    job = conn.execute(
        "SELECT status, done, total, error FROM jobs WHERE namespace_id = %(ns)s AND kind = 'reembed'"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        {"ns": namespace_id},
    ).fetchone()
    job_status, job_error = (job[0], job[3]) if job else (None, None)
    total, done = conn.execute(
        "SELECT (SELECT count(*) FROM chunks WHERE namespace_id = %(ns)s),"
        " (SELECT count(*) FROM pending_chunk_vectors WHERE namespace_id = %(ns)s AND model_id = %(target)s)",
        {"ns": namespace_id, "target": row[2] if row else None},
    ).fetchone()
    if row is None or row[1] is None:
        return ModelStatus(row[0] if row else default_model, None, total, total, job_status, job_error)
    return ModelStatus(row[0], row[1], done, total, job_status, job_error)


@dataclass(frozen=True)
class ProbeRun:
    ran_at: datetime
    recall: float


@dataclass(frozen=True)
class ProbeHistory:
    id: uuid.UUID
    query: str
    k: int
    expected: list[str]
    runs: list[ProbeRun]  # oldest first: the latest `limit` runs


def probe_histories(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 50) -> list[ProbeHistory]:
    """Each probe of the namespace (oldest first) with the recall of its latest `limit` runs."""
    probes = conn.execute(
        "SELECT id, query, k, expected FROM probes WHERE namespace_id = %(ns)s ORDER BY created_at, id",
        {"ns": namespace_id},
    ).fetchall()
    runs: dict[uuid.UUID, list[ProbeRun]] = {p[0]: [] for p in probes}
    for probe_id, ran_at, recall in conn.execute(
        "SELECT probe_id, ran_at, recall FROM (SELECT probe_id, ran_at, recall, id,"
        "  row_number() OVER (PARTITION BY probe_id ORDER BY ran_at DESC, id DESC) AS age"
        "  FROM probe_runs WHERE namespace_id = %(ns)s) r"
        " WHERE age <= %(n)s ORDER BY probe_id, ran_at, id",
        {"ns": namespace_id, "n": limit},
    ).fetchall():
        if probe_id in runs:
            runs[probe_id].append(ProbeRun(ran_at, float(recall)))
    return [ProbeHistory(id=p[0], query=p[1], k=p[2], expected=list(p[3]), runs=runs[p[0]]) for p in probes]


@dataclass(frozen=True)
class ScorePoint:
    ran_at: datetime
    score: float
    probes: int


def probe_score_history(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 50) -> list[ScorePoint]:
    """The namespace's probe score after each of its latest `limit` probe runs, oldest first."""
    with conn.cursor(row_factory=class_row(ScorePoint)) as cur:
        rows = cur.execute(
            "SELECT ran_at, score::float8 AS score, probes FROM probe_scores WHERE namespace_id = %(ns)s"
            " ORDER BY ran_at DESC, id DESC LIMIT %(n)s",
            {"ns": namespace_id, "n": limit},
        ).fetchall()
    return rows[::-1]


@dataclass(frozen=True)
class Alert:
    created_at: datetime
    kind: str
    message: str
    probe_query: str | None


def recent_alerts(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 10) -> list[Alert]:
    """The namespace's latest alerts, newest first, with the query of the probe each is about."""
    with conn.cursor(row_factory=class_row(Alert)) as cur:
        return cur.execute(
            "SELECT a.created_at, a.kind, a.message, p.query AS probe_query FROM alerts a"
            " LEFT JOIN probes p ON p.id = a.probe_id AND p.namespace_id = a.namespace_id"
            " WHERE a.namespace_id = %(ns)s ORDER BY a.created_at DESC, a.id DESC LIMIT %(n)s",
            {"ns": namespace_id, "n": limit},
        ).fetchall()
