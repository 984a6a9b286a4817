"""What the page reads from tables other concepts own, one small function each.

Embedding-model versioning and drift probes are being built elsewhere; these functions are written
against the current schema (migrations 0001-0004) so that each can be re-pointed at its owner's
module in one place when that lands. They only read, and always within the caller's namespace.
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

    active: str  # the model most of the namespace's vectors are made by (the service's when all are)
    target: str | None  # the model being moved to; None when every vector is already the service's
    done: int  # chunks (or job steps) done towards target; == total when there is no move
    total: int
    job_status: str | None = None  # the latest re-embedding job: queued, running, done, failed
    job_error: str | None = None


def model_status(conn: psycopg.Connection[Any], namespace_id: int, default_model: str) -> ModelStatus:
    """Today: chunks per embedding_model against the service's model, and the latest 'reembed' job."""
    counts = dict(conn.execute(
        "SELECT embedding_model, count(*) FROM chunks WHERE namespace_id = %(ns)s GROUP BY 1",
        {"ns": namespace_id},
    ).fetchall())
    job = conn.execute(
        "SELECT status, done, total, error FROM jobs WHERE namespace_id = %(ns)s AND kind = 'reembed'"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        {"ns": namespace_id},
    ).fetchone()
    job_status, job_error = (job[0], job[3]) if job else (None, None)
    total = sum(counts.values())
    others = {m: n for m, n in counts.items() if m != default_model}
    if not others:
        return ModelStatus(default_model, None, total, total, job_status, job_error)
    active = max(others, key=lambda m: (others[m], m))
    done, of = counts.get(default_model, 0), total
    if job and job[0] in ("queued", "running") and job[2]:  # the running job knows its own progress best
        done, of = int(job[1]), int(job[2])
    return ModelStatus(active, default_model, done, of, job_status, job_error)


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
