"""Quarantine: stored writes the screener flagged, kept out of search and assembly until an operator
releases or deletes them; and the namespace's screening policy (memory/write_screen.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import InvalidInput, NotFound
from agentmem.embeddings.models import default_model, namespace_models
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, current_models, prepare, write_chunks
from agentmem.memory.namespaces import Principal
from agentmem.memory.write_screen import INJECTION_ACTIONS, SECRET_ACTIONS, Policy


@dataclass(frozen=True)
class Quarantined:
    id: uuid.UUID
    item: str  # document | scratchpad_entry
    source_uri: str | None
    task_id: uuid.UUID | None
    excerpt: str
    flags: dict[str, list[str]]
    written_at: datetime


def get_policy(conn: psycopg.Connection[Any], namespace_id: int) -> Policy:
    row = conn.execute("SELECT screening FROM namespaces WHERE id = %(ns)s", {"ns": namespace_id}).fetchone()
    return Policy.from_settings(row[0] if row else None)


def set_policy(conn: psycopg.Connection[Any], who: Principal, policy: Policy) -> None:
    if policy.injection not in INJECTION_ACTIONS:
        raise InvalidInput(f"injection must be one of {', '.join(INJECTION_ACTIONS)}")
    if policy.secrets not in SECRET_ACTIONS:
        raise InvalidInput(f"secrets must be one of {', '.join(SECRET_ACTIONS)}")
    with conn.transaction():
        conn.execute("UPDATE namespaces SET screening = %(s)s WHERE id = %(ns)s",
                     {"s": Jsonb({"injection": policy.injection, "secrets": policy.secrets}), "ns": who.namespace_id})


def list_quarantined(conn: psycopg.Connection[Any], who: Principal, limit: int = 100) -> list[Quarantined]:
    """Newest first, documents and scratchpad entries together."""
    cur = conn.cursor(row_factory=class_row(Quarantined))
    return cur.execute(
        "SELECT * FROM ("
        " SELECT id, 'document' AS item, source_uri, task_id, left(text, 300) AS excerpt, screening_flags AS flags,"
        "  updated_at AS written_at FROM documents WHERE namespace_id = %(ns)s AND screening = 'quarantined'"
        " UNION ALL"
        " SELECT id, 'scratchpad_entry', NULL, task_id, left(content, 300), screening_flags, created_at"
        "  FROM scratchpad_entries WHERE namespace_id = %(ns)s AND screening = 'quarantined'"
        ") q ORDER BY written_at DESC, id LIMIT %(n)s",
        {"ns": who.namespace_id, "n": limit},
    ).fetchall()


def release(conn: psycopg.Connection[Any], embedders: Embedders, who: Principal, item_id: uuid.UUID,
            chunk_tokens: int) -> str:
    """Mark the item released; a document gets its chunks (embedded now) and becomes searchable."""
    entry = conn.execute(
        "UPDATE scratchpad_entries SET screening = 'released' WHERE id = %(id)s AND namespace_id = %(ns)s"
        " AND screening = 'quarantined' RETURNING id", {"id": item_id, "ns": who.namespace_id},
    ).fetchone()
    if entry is not None:
        conn.commit()
        return "scratchpad_entry"
    row = conn.execute(
        "SELECT source_uri, text, kind, title, metadata, context, task_id, source_updated_at FROM documents"
        " WHERE id = %(id)s AND namespace_id = %(ns)s AND screening = 'quarantined'",
        {"id": item_id, "ns": who.namespace_id},
    ).fetchone()
    conn.commit()  # no transaction held while embedding
    if row is None:
        raise NotFound(f"no quarantined item {item_id} in this namespace")
    doc = DocumentInput(source_uri=row[0], text=row[1], kind=row[2], title=row[3], metadata=row[4], context=row[5],
                        task_id=row[6], source_updated_at=row[7])
    [p] = prepare([doc], embedders, current_models(conn, embedders, who.namespace_id), chunk_tokens,
                  who.namespace_id)
    default = default_model(conn, embedders)
    with conn.transaction():
        models = namespace_models(conn, who.namespace_id, default, lock="share")
        done = conn.execute(
            "UPDATE documents SET screening = 'released' WHERE id = %(id)s AND namespace_id = %(ns)s"
            " AND screening = 'quarantined' AND text = %(text)s RETURNING id",
            {"id": item_id, "ns": who.namespace_id, "text": doc.text},
        ).fetchone()
        if done is None:
            raise NotFound(f"quarantined item {item_id} changed or was released meanwhile; list /quarantine again")
        for model in models.current():
            if model.id not in p.vectors:
                p.vectors[model.id] = embedders.get(model.name, model.version).embed(p.inputs(), who.namespace_id)
        write_chunks(conn, who, item_id, p, models)
    return "document"


def delete_quarantined(conn: psycopg.Connection[Any], who: Principal, item_id: uuid.UUID) -> str:
    with conn.transaction():
        for table, item in (("documents", "document"), ("scratchpad_entries", "scratchpad_entry")):
            row = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = %(id)s AND namespace_id = %(ns)s AND screening = 'quarantined'"
                        " RETURNING id").format(sql.Identifier(table)), {"id": item_id, "ns": who.namespace_id},
            ).fetchone()
            if row is not None:
                return item
    raise NotFound(f"no quarantined item {item_id} in this namespace")
