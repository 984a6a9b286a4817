"""What context assembly reads of a task: its pinned context and scratchpad entries (tables of memory)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import class_row

from agentmem.core.errors import NotFound


@dataclass(frozen=True)
class TaskPinned:
    goal: str
    constraints: list[str]
    items: list[tuple[str, str]]  # (label, text)
    set_by: str | None = None  # None: an operator key set it; else the agent key's label


@dataclass(frozen=True)
class TaskEntry:
    id: uuid.UUID
    seq: int
    kind: str
    content: str
    summary: str | None
    step: int | None
    citations: list[dict[str, Any]]
    tokens: int
    summary_tokens: int | None
    embedding: np.ndarray | None
    embedding_model_id: int | None
    origin: str
    screening: str  # clean | flagged | released (quarantined entries are never read here)


_ENTRY_COLUMNS = ("id, seq, kind, content, summary, step, citations, tokens, summary_tokens, embedding,"
                  " embedding_model_id, origin, screening")


def pinned_and_recent(conn: psycopg.Connection[Any], namespace_id: int, task_id: uuid.UUID,
                      recent: int) -> tuple[TaskPinned, list[TaskEntry]]:
    """The task's pinned context and its newest `recent` entries (call inside one snapshot)."""
    row = conn.execute(
        "SELECT goal, constraints, pinned, origin, (SELECT k.label FROM api_keys k WHERE k.id = t.written_by)"
        " FROM tasks t WHERE id = %(id)s AND namespace_id = %(ns)s",
        {"id": task_id, "ns": namespace_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"no task with id {task_id} in this namespace")
    set_by = None if row[3] == "operator" else (row[4] or "a deleted key")
    pinned = TaskPinned(goal=row[0], constraints=row[1], items=[(p["label"], p["text"]) for p in row[2]],
                        set_by=set_by)
    entries = conn.cursor(row_factory=class_row(TaskEntry), binary=True).execute(
        f"SELECT {_ENTRY_COLUMNS} FROM scratchpad_entries WHERE task_id = %(id)s"
        " AND screening <> 'quarantined' ORDER BY seq DESC LIMIT %(n)s",
        {"id": task_id, "n": recent},
    ).fetchall()
    return pinned, entries


def older_relevant(conn: psycopg.Connection[Any], task_id: uuid.UUID, before_seq: int, vector: np.ndarray,
                   model_id: int, limit: int) -> list[TaskEntry]:
    """Older entries nearest the query. Only vectors of the query's model are compared with it (a flip
    moves a namespace's entries at once)."""
    return conn.cursor(row_factory=class_row(TaskEntry), binary=True).execute(
        f"SELECT {_ENTRY_COLUMNS} FROM scratchpad_entries WHERE task_id = %(id)s AND seq < %(seq)s"
        " AND screening <> 'quarantined'"
        " AND embedding_model_id = %(model)s ORDER BY embedding <=> %(q)s LIMIT %(n)s",
        {"id": task_id, "seq": before_seq, "q": vector, "model": model_id, "n": limit},
    ).fetchall()
