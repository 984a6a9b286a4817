"""The scratchpad: a task's step results, each with its citations, hash, token count and time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import numpy as np
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import Conflict, InvalidInput
from agentmem.core.snapshot import read_snapshot
from agentmem.core.tokens import count_tokens
from agentmem.embeddings.models import Model, adopt_default, default_model, namespace_models
from agentmem.embeddings.registry import Embedders
from agentmem.memory.hashing import content_hash
from agentmem.memory.keys import written_by
from agentmem.memory.namespaces import Principal
from agentmem.memory.tasks import get_task

CLAIM_KINDS = ("fact", "result")
_COLUMNS = (
    "id, seq, task_id, kind, content, summary, step, citations, unsourced, content_hash, tokens,"
    " summary_tokens, created_at, origin, " + written_by("scratchpad_entries.written_by")
)


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    seq: int
    task_id: uuid.UUID
    kind: str
    content: str
    summary: str | None
    step: int | None
    citations: list[dict[str, Any]]
    unsourced: bool
    content_hash: str
    tokens: int
    summary_tokens: int | None
    created_at: datetime
    origin: str  # as declared by its writer (memory/provenance.py)
    written_by: dict[str, Any] | None = None  # the key that wrote it: {key_id, label}


def check_sourcing(kind: str, citations: list[dict[str, Any]], unsourced: bool) -> None:
    """A fact or result needs a citation unless the writer says, explicitly, that it has none."""
    if unsourced and citations:
        raise InvalidInput("'unsourced': true contradicts the citations given; drop one of them")
    if kind in CLAIM_KINDS and not citations and not unsourced:
        raise InvalidInput(
            f"a {kind!r} entry needs at least one citation ({{'source': ...}}); "
            "if it really has no source, say so with 'unsourced': true"
        )


def add_entry(
    conn: psycopg.Connection[Any],
    embedders: Embedders,
    who: Principal,
    task_id: uuid.UUID,
    *,
    kind: str,
    content: str,
    citations: list[dict[str, Any]],
    unsourced: bool = False,
    step: int | None = None,
    summary: str | None = None,
    screening: str = "clean",
    screening_flags: dict[str, list[str]] | None = None,
    origin: str = "agent",
    vectors: dict[int, np.ndarray] | None = None,
) -> Entry:
    """`vectors`: the content's, by model id, when the caller embedded it already (add_entry_pooled)."""
    check_sourcing(kind, citations, unsourced)
    if vectors is None:
        # Outside the transaction: embedding is the slow part (by the migration's target model too, if any).
        vectors = _embed_all(embedders, _entry_models(conn, embedders, who, task_id), content, who.namespace_id)
    default = default_model(conn, embedders)
    with conn.transaction():
        models = namespace_models(conn, who.namespace_id, default, lock="share")  # no flip until this commits
        for m in models.current():
            if m.id not in vectors:  # the models changed meanwhile: rare
                vectors[m.id] = _embed(embedders, m, content, who.namespace_id)
        task = get_task(conn, who, task_id, lock=True)
        if task.status == "completed":
            raise Conflict(f"task {task_id} is completed; its scratchpad is closed")
        cur = conn.cursor(row_factory=class_row(Entry))
        entry = cur.execute(
            "INSERT INTO scratchpad_entries (namespace_id, task_id, kind, content, summary, step, citations,"
            " unsourced, content_hash, tokens, summary_tokens, embedding, embedding_model_id, written_by,"
            " screening, screening_flags, origin)"
            " VALUES (%(ns)s, %(task)s, %(kind)s, %(content)s, %(summary)s, %(step)s, %(citations)s,"
            " %(unsourced)s, %(hash)s, %(tokens)s, %(summary_tokens)s, %(embedding)s, %(model)s, %(key)s,"
            " %(screening)s, %(flags)s, %(origin)s)"
            f" RETURNING {_COLUMNS}",
            {
                "ns": who.namespace_id,
                "task": task_id,
                "kind": kind,
                "content": content,
                "summary": summary,
                "step": step,
                "citations": Jsonb(citations),
                "unsourced": not citations,
                "hash": content_hash(content),
                "tokens": count_tokens(content),
                "summary_tokens": None if summary is None else count_tokens(summary),
                "embedding": vectors[models.active.id],
                "model": models.active.id,
                "key": who.key_id,
                "screening": screening,
                "flags": Jsonb(screening_flags or {}),
                "origin": origin,
            },
        ).fetchone()
        assert entry is not None
        if models.target is not None:
            conn.execute(
                "INSERT INTO pending_entry_vectors (entry_id, model_id, namespace_id, embedding)"
                " VALUES (%s, %s, %s, %s)",
                (entry.id, models.target.id, who.namespace_id, vectors[models.target.id]),
            )
    return entry


def add_entry_pooled(pool: Any, embedders: Embedders, who: Principal, task_id: uuid.UUID, *, kind: str,
                     content: str, citations: list[dict[str, Any]], unsourced: bool = False,
                     **rest: Any) -> Entry:
    """add_entry for a request: no connection is held while the entry is embedded (under load the model
    can be a second away), so a write waiting for it leaves the pool to others."""
    check_sourcing(kind, citations, unsourced)
    with pool.connection() as conn:
        models = _entry_models(conn, embedders, who, task_id)
    vectors = _embed_all(embedders, models, content, who.namespace_id)
    with pool.connection() as conn:
        return add_entry(conn, embedders, who, task_id, kind=kind, content=content, citations=citations,
                         unsourced=unsourced, vectors=vectors, **rest)


def _entry_models(conn: psycopg.Connection[Any], embedders: Embedders, who: Principal,
                  task_id: uuid.UUID) -> list[Model]:
    """The models to embed a new entry with, once the task is known to be open (checked again on write)."""
    task = get_task(conn, who, task_id)
    if task.status == "completed":
        raise Conflict(f"task {task_id} is completed; its scratchpad is closed")
    default = default_model(conn, embedders)
    adopt_default(conn, who.namespace_id, default)
    return list(namespace_models(conn, who.namespace_id, default).current())


def _embed_all(embedders: Embedders, models: Sequence[Model], text: str, namespace_id: int) -> dict[int, np.ndarray]:
    return {m.id: _embed(embedders, m, text, namespace_id) for m in models}


def _embed(embedders: Embedders, model: Model, text: str, namespace_id: int) -> np.ndarray:
    vector = embedders.get(model.name, model.version).embed([text], namespace_id)[0]
    if np.shape(vector) != (model.dimension,):
        raise RuntimeError(f"model {model.name} returned a vector of shape {np.shape(vector)}")
    return vector


def list_entries(
    conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID, *, unsourced_only: bool = False,
    include_quarantined: bool = True,
) -> list[Entry]:
    """Entries in the order written; `unsourced_only` keeps the claims (facts, results) with no source."""
    where = " AND unsourced AND kind = ANY(%(claims)s)" if unsourced_only else ""
    if not include_quarantined:
        where += " AND screening <> 'quarantined'"
    with read_snapshot(conn):  # the task that was found is the one whose entries are listed
        get_task(conn, who, task_id)
        cur = conn.cursor(row_factory=class_row(Entry))
        return cur.execute(
            f"SELECT {_COLUMNS} FROM scratchpad_entries WHERE task_id = %(task)s AND namespace_id = %(ns)s{where}"
            " ORDER BY seq",
            {"task": task_id, "ns": who.namespace_id, "claims": list(CLAIM_KINDS)},
        ).fetchall()
