"""Namespaces (tenants) and their API keys. A key is shown once and stored only as its hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import Conflict, NotFound, Unauthorized

KEY_PREFIX = "amk_"


@dataclass(frozen=True)
class Namespace:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Principal:
    """Who is calling: decided by the key alone. `key_id` is recorded on every write (provenance)."""

    namespace_id: int
    namespace: str
    key_id: uuid.UUID
    retrieval: dict[str, Any] = field(default_factory=dict)  # the namespace's retrieval defaults
    freshness: dict[str, Any] = field(default_factory=dict)  # its freshness settings (memory/freshness.py)
    role: str = "operator"  # operator, agent or read (memory/keys.py)
    screening: dict[str, Any] = field(default_factory=dict)  # its write-screening policy (memory/write_screen.py)
    trust: dict[str, Any] = field(default_factory=dict)  # its trust rules (memory/provenance.py)


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    key: str
    label: str
    namespace: str
    role: str
    expires_at: datetime | None


def hash_key(key: str) -> bytes:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough (no brute force to slow down).
    return hashlib.sha256(key.encode("utf-8")).digest()


def create_namespace(conn: psycopg.Connection[Any], name: str, model_id: int | None = None) -> Namespace:
    """`model_id`: the embedding model its vectors will come from (None: the service's default, at first write)."""
    try:
        with conn.transaction():
            cur = conn.cursor(row_factory=class_row(Namespace))
            row = cur.execute(
                "INSERT INTO namespaces (name, active_model_id) VALUES (%(name)s, %(model)s)"
                " RETURNING id, name, created_at", {"name": name, "model": model_id}
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"namespace {name!r} already exists") from None
    assert row is not None
    return row


def get_namespace(conn: psycopg.Connection[Any], name: str) -> Namespace:
    cur = conn.cursor(row_factory=class_row(Namespace))
    row = cur.execute("SELECT id, name, created_at FROM namespaces WHERE name = %(name)s", {"name": name}).fetchone()
    if row is None:
        raise NotFound(f"no namespace named {name!r}")
    return row


def issue_key(conn: psycopg.Connection[Any], namespace_name: str, label: str, role: str = "operator",
              expires_at: datetime | None = None, expires_in_days: float | None = None) -> IssuedKey:
    """A new key of the namespace; `expires_in_days` counts from the database's clock."""
    ns = get_namespace(conn, namespace_name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO api_keys (namespace_id, label, key_hash, role, expires_at)"
            " VALUES (%(ns)s, %(label)s, %(hash)s, %(role)s,"
            " coalesce(%(at)s, now() + %(days)s * interval '1 day')) RETURNING id, expires_at",
            {"ns": ns.id, "label": label, "hash": hash_key(key), "role": role, "at": expires_at,
             "days": expires_in_days},
        ).fetchone()
    assert row is not None
    return IssuedKey(id=row[0], key=key, label=label, namespace=ns.name, role=role, expires_at=row[1])


@dataclass(frozen=True)
class _KeyRow:
    namespace_id: int
    namespace: str
    key_id: uuid.UUID
    retrieval: dict[str, Any]
    freshness: dict[str, Any]
    screening: dict[str, Any]
    role: str
    trust: dict[str, Any]
    revoked: bool
    expires_at: datetime | None
    expired: bool
    touch: bool  # last used over a minute ago: record this use


# One indexed read per request, bringing every namespace setting a request reads (no route reads them
# again on a second connection); last_used_at is written at most once a minute per key.
_LOOKUP = (
    "SELECT k.namespace_id, n.name AS namespace, k.id AS key_id, n.retrieval, n.freshness, n.screening, k.role, n.trust,"
    " k.revoked_at IS NOT NULL AS revoked, k.expires_at, coalesce(k.expires_at <= now(), false) AS expired,"
    " (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute') AS touch"
    " FROM api_keys k JOIN namespaces n ON n.id = k.namespace_id WHERE k.key_hash = %(hash)s"
)
# SKIP LOCKED: requests of the same key at the same moment never wait on each other to record a use.
_TOUCH = (
    "UPDATE api_keys SET last_used_at = now() WHERE id = (SELECT id FROM api_keys WHERE id = %(id)s"
    " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') FOR UPDATE SKIP LOCKED)"
)


def authenticate(conn: psycopg.Connection[Any], key: str) -> Principal:
    """The caller of a key, read from the database on every request (no cache: a revocation holds at once
    in every process), or Unauthorized saying why not: unknown, revoked or expired."""
    row = conn.cursor(row_factory=class_row(_KeyRow)).execute(_LOOKUP, {"hash": hash_key(key)}).fetchone()
    if row is None:
        raise Unauthorized("unknown API key; ask your operator for a key of your namespace")
    if row.revoked:
        raise Unauthorized("this API key was revoked; ask your operator for a new one")
    if row.expired:
        assert row.expires_at is not None
        at = row.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise Unauthorized(f"this API key expired at {at}; ask your operator for a new one")
    if row.touch:
        conn.execute(_TOUCH, {"id": row.key_id})
    return Principal(namespace_id=row.namespace_id, namespace=row.namespace, key_id=row.key_id,
                     retrieval=row.retrieval, freshness=row.freshness, role=row.role, screening=row.screening,
                     trust=row.trust)


def resolve_key(conn: psycopg.Connection[Any], key: str) -> Principal | None:
    """The caller of a valid key, None for any other (unknown, revoked, expired)."""
    try:
        return authenticate(conn, key)
    except Unauthorized:
        return None


def set_retrieval_defaults(conn: psycopg.Connection[Any], who: Principal, defaults: dict[str, Any]) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE namespaces SET retrieval = %(r)s WHERE id = %(ns)s", {"r": Jsonb(defaults), "ns": who.namespace_id}
        )


def set_trust_rules(conn: psycopg.Connection[Any], who: Principal, rules: dict[str, Any]) -> None:
    with conn.transaction():
        conn.execute("UPDATE namespaces SET trust = %(t)s WHERE id = %(ns)s", {"t": Jsonb(rules), "ns": who.namespace_id})


def set_freshness_settings(conn: psycopg.Connection[Any], who: Principal, settings: dict[str, Any]) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE namespaces SET freshness = %(f)s WHERE id = %(ns)s", {"f": Jsonb(settings), "ns": who.namespace_id}
        )


@dataclass(frozen=True)
class NamespaceSettings:
    """A namespace's stored settings, for work done outside a request (jobs, the CLI)."""

    id: int
    name: str
    retrieval: dict[str, Any]
    freshness: dict[str, Any]
    alerting: dict[str, Any]  # thresholds and webhook (jobs/probe_scoring.py), and the probe baseline


def namespace_settings(conn: psycopg.Connection[Any], namespace_id: int) -> NamespaceSettings:
    cur = conn.cursor(row_factory=class_row(NamespaceSettings))
    row = cur.execute("SELECT id, name, retrieval, freshness, alerting FROM namespaces WHERE id = %(ns)s",
                      {"ns": namespace_id}).fetchone()
    if row is None:
        raise NotFound(f"no namespace with id {namespace_id}")
    return row


def namespaces_with_documents(conn: psycopg.Connection[Any]) -> list[NamespaceSettings]:
    """Every namespace that stores a document, by name: what /metrics reports freshness for."""
    return conn.cursor(row_factory=class_row(NamespaceSettings)).execute(
        "SELECT id, name, retrieval, freshness, alerting FROM namespaces n"
        " WHERE EXISTS (SELECT 1 FROM documents d WHERE d.namespace_id = n.id) ORDER BY name"
    ).fetchall()


def set_alerting_settings(conn: psycopg.Connection[Any], namespace_id: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Replace the alert thresholds and webhook; the probe baseline (key "baseline") is kept."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE namespaces SET alerting = %(a)s || CASE WHEN alerting ? 'baseline'"
            " THEN jsonb_build_object('baseline', alerting -> 'baseline') ELSE '{}' END"
            " WHERE id = %(ns)s RETURNING alerting",
            {"a": Jsonb({k: v for k, v in settings.items() if k != "baseline"}), "ns": namespace_id},
        ).fetchone()
    if row is None:
        raise NotFound(f"no namespace with id {namespace_id}")
    return row[0]  # type: ignore[no-any-return]


def delete_namespace(conn: psycopg.Connection[Any], name: str) -> dict[str, int]:
    """Delete a namespace and everything in it; returns how many rows of each kind went."""
    with conn.transaction():
        row = conn.execute("SELECT id FROM namespaces WHERE name = %(name)s FOR UPDATE", {"name": name}).fetchone()
        if row is None:
            raise NotFound(f"no namespace named {name!r}")
        ns_id = row[0]
        counts = {}
        for table in ("api_keys", "tasks", "scratchpad_entries", "documents", "chunks"):
            query = sql.SQL("SELECT count(*) FROM {} WHERE namespace_id = %(ns)s").format(sql.Identifier(table))
            counts[table] = conn.execute(query, {"ns": ns_id}).fetchone()[0]  # type: ignore[index]
        conn.execute("DELETE FROM namespaces WHERE id = %(ns)s", {"ns": ns_id})
    return counts
