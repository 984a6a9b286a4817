"""Sessions of the /ui page: the browser holds a random session id, never the key it signed in with.

A session is valid while it has not expired and its key is neither revoked nor expired; it is looked up
on every page view (no cache), is deleted on sign-out, and its key's revocation deletes it too.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import psycopg
from psycopg.rows import class_row

from agentmem.memory.namespaces import Principal


def _hash(session: str) -> bytes:
    # 256-bit random ids, like keys: a plain SHA-256 keeps a database dump from holding live sessions.
    return hashlib.sha256(session.encode("utf-8")).digest()


MAX_PER_KEY = 20  # live sessions of one key; a sign-in beyond it ends the key's oldest


def start_session(conn: psycopg.Connection[Any], key_id: uuid.UUID, seconds: int) -> str:
    """A new session of the key, valid for `seconds`; expired sessions are cleared on the way, and the
    key's oldest beyond MAX_PER_KEY end (sign-ins need no API call, so no rate limit bounds them)."""
    session = secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("DELETE FROM ui_sessions WHERE expires_at <= now()")
        conn.execute(
            "INSERT INTO ui_sessions (id_hash, key_id, expires_at)"
            " VALUES (%(h)s, %(key)s, now() + %(s)s * interval '1 second')",
            {"h": _hash(session), "key": key_id, "s": seconds},
        )
        conn.execute(
            "DELETE FROM ui_sessions WHERE id_hash IN (SELECT id_hash FROM ui_sessions WHERE key_id = %(key)s"
            " ORDER BY expires_at DESC OFFSET %(keep)s)",
            {"key": key_id, "keep": MAX_PER_KEY},
        )
    return session


def session_principal(conn: psycopg.Connection[Any], session: str) -> Principal | None:
    """The caller a session stands for, or None when the session, its key or its namespace is gone or expired."""
    return conn.cursor(row_factory=class_row(Principal)).execute(
        "SELECT k.namespace_id, n.name AS namespace, k.id AS key_id, n.retrieval, n.freshness, k.role"
        " FROM ui_sessions s JOIN api_keys k ON k.id = s.key_id JOIN namespaces n ON n.id = k.namespace_id"
        " WHERE s.id_hash = %(h)s AND s.expires_at > now() AND k.revoked_at IS NULL"
        " AND (k.expires_at IS NULL OR k.expires_at > now())",
        {"h": _hash(session)},
    ).fetchone()


def end_session(conn: psycopg.Connection[Any], session: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM ui_sessions WHERE id_hash = %(h)s", {"h": _hash(session)})
