"""Key roles and key management: what each role may do, listing and revoking a namespace's keys.

Roles are ranked: each one may do all that the roles below it may (read < agent < operator). The admin
token is not a key: it manages namespaces and keys and reaches no namespace's data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from agentmem.core.errors import NotFound

ROLES = ("read", "agent", "operator")  # lowest first


def allows(role: str, needed: str) -> bool:
    """Whether a key of `role` may do what needs `needed`."""
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed: never the key nor its hash."""

    id: uuid.UUID
    label: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = "id, label, role, created_at, expires_at, last_used_at, revoked_at"


def list_keys(conn: psycopg.Connection[Any], namespace_id: int) -> list[KeyInfo]:
    """Every key of the namespace, revoked ones too (their labels name the writers of old items)."""
    return conn.cursor(row_factory=class_row(KeyInfo)).execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE namespace_id = %(ns)s ORDER BY created_at, id", {"ns": namespace_id}
    ).fetchall()


def revoke_key(conn: psycopg.Connection[Any], namespace_id: int, key_id: uuid.UUID) -> KeyInfo:
    """Revoke at once: the next request with the key answers 401 in every process (keys are looked up on
    every request), and the key's /ui sessions end. The row stays, so the items it wrote keep its label.
    Revoking a revoked key changes nothing."""
    with conn.transaction():
        row = conn.cursor(row_factory=class_row(KeyInfo)).execute(
            f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
            f" WHERE id = %(id)s AND namespace_id = %(ns)s RETURNING {_COLUMNS}",
            {"id": key_id, "ns": namespace_id},
        ).fetchone()
        if row is None:
            raise NotFound(f"no key with id {key_id} in this namespace")
        conn.execute("DELETE FROM ui_sessions WHERE key_id = %(id)s", {"id": key_id})
    return row


WRITTEN_BY = (
    "CASE WHEN {col} IS NULL THEN NULL ELSE jsonb_build_object('key_id', {col},"
    " 'label', (SELECT k.label FROM api_keys k WHERE k.id = {col})) END AS written_by"
)


def written_by(column: str) -> str:
    """A select-list item giving an item's writer as {key_id, label} (None when not recorded), from the
    key id in `column` (a qualified column name: it is used inside a subquery)."""
    return WRITTEN_BY.format(col=column)
