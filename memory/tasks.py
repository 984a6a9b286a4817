"""Tasks and their pinned context: the operator's goal, constraints and pinned items, versioned on change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import Conflict, NotFound
from agentmem.core.snapshot import read_snapshot
from agentmem.core.tokens import count_many
from agentmem.memory.keys import written_by
from agentmem.memory.namespaces import Principal
from agentmem.memory.provenance import default_origin

_COLUMNS = (
    "id, goal, constraints, pinned, pinned_tokens, version, status, outcome, created_at, updated_at, completed_at, origin, "
    + written_by("tasks.written_by")
)


@dataclass(frozen=True)
class Task:
    id: uuid.UUID
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    pinned_tokens: int
    version: int
    status: str
    outcome: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    written_by: dict[str, Any] | None = None  # the key that wrote this version: {key_id, label}
    origin: str = "operator"  # the role of that key: operator, or agent (shown apart in the context)


@dataclass(frozen=True)
class TaskVersion:
    version: int
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    created_at: datetime
    written_by: dict[str, Any] | None = None


def pinned_token_count(goal: str, constraints: list[str], pinned: list[dict[str, str]]) -> int:
    """Tokens of the operator's text alone; assembly adds its own headings on top."""
    texts = [goal, *constraints, *(p["label"] for p in pinned), *(p["text"] for p in pinned)]
    return sum(count_many(texts))


def create_task(
    conn: psycopg.Connection[Any], who: Principal, goal: str, constraints: list[str], pinned: list[dict[str, str]]
) -> Task:
    with conn.transaction():
        cur = conn.cursor(row_factory=class_row(Task))
        task = cur.execute(
            f"INSERT INTO tasks (namespace_id, goal, constraints, pinned, pinned_tokens, created_by, written_by,"
            f" origin) VALUES (%(ns)s, %(goal)s, %(constraints)s, %(pinned)s, %(tokens)s, %(key)s, %(key)s, %(origin)s)"
            f" RETURNING {_COLUMNS}",
            {
                "ns": who.namespace_id,
                "goal": goal,
                "constraints": Jsonb(constraints),
                "pinned": Jsonb(pinned),
                "tokens": pinned_token_count(goal, constraints, pinned),
                "key": who.key_id,
                "origin": default_origin(who.role),
            },
        ).fetchone()
    assert task is not None
    return task


def get_task(conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID, *, lock: bool = False) -> Task:
    """A task of the caller's namespace; another namespace's task is indistinguishable from a missing one."""
    cur = conn.cursor(row_factory=class_row(Task))
    task = cur.execute(
        f"SELECT {_COLUMNS} FROM tasks WHERE id = %(id)s AND namespace_id = %(ns)s" + (" FOR UPDATE" if lock else ""),
        {"id": task_id, "ns": who.namespace_id},
    ).fetchone()
    if task is None:
        raise NotFound(f"no task with id {task_id} in this namespace")
    return task


def update_task(
    conn: psycopg.Connection[Any],
    who: Principal,
    task_id: uuid.UUID,
    goal: str | None = None,
    constraints: list[str] | None = None,
    pinned: list[dict[str, str]] | None = None,
) -> Task:
    """Change the pinned context; the version it replaces is kept in task_versions."""
    with conn.transaction():
        old = get_task(conn, who, task_id, lock=True)
        new_goal = old.goal if goal is None else goal
        new_constraints = old.constraints if constraints is None else constraints
        new_pinned = old.pinned if pinned is None else pinned
        conn.execute(
            "INSERT INTO task_versions (task_id, version, goal, constraints, pinned, changed_by, created_at, written_by)"
            " VALUES (%(id)s, %(version)s, %(goal)s, %(constraints)s, %(pinned)s, %(key)s, %(at)s,"
            " (SELECT written_by FROM tasks WHERE id = %(id)s))",
            {
                "id": old.id,
                "version": old.version,
                "goal": old.goal,
                "constraints": Jsonb(old.constraints),
                "pinned": Jsonb(old.pinned),
                "key": who.key_id,
                "at": old.updated_at,
            },
        )
        cur = conn.cursor(row_factory=class_row(Task))
        task = cur.execute(
            f"UPDATE tasks SET goal = %(goal)s, constraints = %(constraints)s, pinned = %(pinned)s,"
            f" pinned_tokens = %(tokens)s, version = version + 1, updated_at = now(),"
            f" written_by = %(key)s, origin = %(origin)s"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {
                "id": old.id,
                "goal": new_goal,
                "constraints": Jsonb(new_constraints),
                "pinned": Jsonb(new_pinned),
                "tokens": pinned_token_count(new_goal, new_constraints, new_pinned),
                "key": who.key_id,
                "origin": default_origin(who.role),
            },
        ).fetchone()
    assert task is not None
    return task


def task_versions(conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID) -> list[TaskVersion]:
    """Earlier versions, read in the snapshot that found the task (a concurrent delete or edit is all or nothing)."""
    with read_snapshot(conn):
        get_task(conn, who, task_id)
        cur = conn.cursor(row_factory=class_row(TaskVersion))
        return cur.execute(
            "SELECT version, goal, constraints, pinned, created_at, "
            + written_by("task_versions.written_by") + " FROM task_versions"
            " WHERE task_id = %(id)s ORDER BY version",
            {"id": task_id},
        ).fetchall()


def mark_completed(conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID, outcome: str | None) -> Task:
    """Close the task; call inside the transaction that also writes its summary."""
    old = get_task(conn, who, task_id, lock=True)
    if old.status == "completed":
        raise Conflict(f"task {task_id} is already completed")
    cur = conn.cursor(row_factory=class_row(Task))
    task = cur.execute(
        f"UPDATE tasks SET status = 'completed', outcome = %(outcome)s, completed_at = now(), updated_at = now()"
        f" WHERE id = %(id)s RETURNING {_COLUMNS}",
        {"id": task_id, "outcome": outcome},
    ).fetchone()
    assert task is not None
    return task


def delete_task(conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID) -> dict[str, int]:
    """Delete the task and all derived from it (scratchpad, versions, its summary and their chunks)."""
    with conn.transaction():
        get_task(conn, who, task_id, lock=True)
        params = {"id": task_id}
        row = conn.execute(
            "SELECT (SELECT count(*) FROM scratchpad_entries WHERE task_id = %(id)s),"
            " (SELECT count(*) FROM task_versions WHERE task_id = %(id)s),"
            " (SELECT count(*) FROM documents WHERE task_id = %(id)s),"
            " (SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.task_id = %(id)s)",
            params,
        ).fetchone()
        assert row is not None
        conn.execute("DELETE FROM tasks WHERE id = %(id)s", params)
    return {"tasks": 1, "scratchpad_entries": row[0], "task_versions": row[1], "documents": row[2], "chunks": row[3]}
