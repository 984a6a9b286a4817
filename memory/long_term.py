"""Single long-term memories and task completion: both write through the document path."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from agentmem.core.errors import Conflict
from agentmem.embeddings.registry import Embedders
from agentmem.embeddings.models import default_model, namespace_models
from agentmem.memory.documents import DocumentInput, UpsertResult, current_models, prepare, write_prepared
from agentmem.memory.namespaces import Principal
from agentmem.memory.scratchpad import list_entries
from agentmem.memory.summaries import build_task_summary
from agentmem.memory.tasks import Task, get_task, mark_completed


def add_memory(
    conn: psycopg.Connection[Any], embedders: Embedders, who: Principal, *, text: str, kind: str,
    source: str | None, chunk_tokens: int, screening: tuple[str, dict[str, list[str]]] = ("clean", {}),
    origin: str = "agent",
) -> UpsertResult:
    """Store one summary, fact or preference; it is searchable exactly like a document chunk."""
    memory_id = uuid.uuid4()
    doc = DocumentInput(
        source_uri=f"memory:{memory_id}", text=text, kind=kind,
        metadata={"source": source} if source else {}, origin=origin,
    )
    [p] = prepare([doc], embedders, current_models(conn, embedders, who.namespace_id), chunk_tokens, who.namespace_id)
    return write_prepared(conn, who, p, embedders, chunk_tokens, *screening)


def complete_task(
    conn: psycopg.Connection[Any], embedders: Embedders, who: Principal, task_id: uuid.UUID, *,
    summary: str | None, outcome: str | None, chunk_tokens: int,
    screening: tuple[str, dict[str, list[str]]] = ("clean", {}), origin: str = "agent",
) -> tuple[Task, UpsertResult, str]:
    """Close the task and write its summary to long-term memory, both or neither (a built summary
    leaves quarantined entries out: they must not reach memory through the back door)."""
    task = get_task(conn, who, task_id)
    if task.status == "completed":
        raise Conflict(f"task {task_id} is already completed")
    text = summary or build_task_summary(task.goal, outcome, list_entries(conn, who, task_id, include_quarantined=False))
    doc = DocumentInput(
        source_uri=f"task:{task_id}/summary", text=text, kind="summary", task_id=task_id,
        metadata={"task_id": str(task_id), "outcome": outcome, "generated": summary is None}, origin=origin,
    )
    [p] = prepare([doc], embedders, current_models(conn, embedders, who.namespace_id), chunk_tokens, who.namespace_id)
    default = default_model(conn, embedders)
    with conn.transaction():
        namespace_models(conn, who.namespace_id, default, lock="share")  # the namespace first, as every writer
        closed = mark_completed(conn, who, task_id, outcome)
        result = write_prepared(conn, who, p, embedders, chunk_tokens, *screening)
    return closed, result, text
