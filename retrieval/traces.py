"""Assemble traces: what each /context/assemble call included, dropped and spent time on, kept for lookup."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import NotFound


@dataclass(frozen=True)
class Trace:
    trace_id: uuid.UUID
    task_id: uuid.UUID | None
    query: str
    budget_tokens: int
    tokens: int
    included: dict[str, list[str]]
    dropped: list[dict[str, str]]
    timings_ms: dict[str, float]
    created_at: datetime


def store(conn: psycopg.Connection[Any], namespace_id: int, trace_id: uuid.UUID, task_id: uuid.UUID | None,
          query: str, budget_tokens: int, tokens: int, included: dict[str, list[str]],
          dropped: list[dict[str, str]], timings_ms: dict[str, float]) -> None:
    """A trace is a diagnostic record: it need not wait for the WAL flush (~4 ms on the request path).
    It is visible to readers at once; only an OS crash in the next ~0.6 s could lose it. The pipeline
    sends BEGIN, SET, INSERT and COMMIT in one round trip."""
    with conn.pipeline(), conn.transaction():
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(
            "INSERT INTO assemble_traces (trace_id, namespace_id, task_id, query, budget_tokens, tokens, included,"
            " dropped, timings_ms) VALUES (%(id)s, %(ns)s, %(task)s, %(q)s, %(budget)s, %(tokens)s, %(inc)s,"
            " %(drop)s, %(t)s)",
            {"id": trace_id, "ns": namespace_id, "task": task_id, "q": query, "budget": budget_tokens,
             "tokens": tokens, "inc": Jsonb(included), "drop": Jsonb(dropped), "t": Jsonb(timings_ms)},
        )


def get(conn: psycopg.Connection[Any], namespace_id: int, trace_id: uuid.UUID) -> Trace:
    row = conn.cursor(row_factory=class_row(Trace)).execute(
        "SELECT trace_id, task_id, query, budget_tokens, tokens, included, dropped, timings_ms, created_at"
        " FROM assemble_traces WHERE trace_id = %(id)s AND namespace_id = %(ns)s",
        {"id": trace_id, "ns": namespace_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"no assemble trace {trace_id} in this namespace")
    return row
