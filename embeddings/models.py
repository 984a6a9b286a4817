"""Registered embedding models and each namespace's active (and target) model, in PostgreSQL.

Invariant: every chunk and scratchpad entry of a namespace carries a vector of the namespace's
active model. Writers keep it by reading the models under `FOR SHARE` on the namespace row inside
their transaction; a migration's flip takes `FOR UPDATE`, so no write lands half before, half after.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from agentmem.core.errors import NotFound
from agentmem.embeddings import static
from agentmem.embeddings.registry import Embedders

log = logging.getLogger("agentmem.embeddings")

HNSW_MAX_DIMENSION = 2000  # pgvector's limit for an HNSW index on vector; above it search scans
_INDEX_LOCK = 0x656D62696478  # advisory lock: one process creates a model's index ("embidx")

# Cosine similarity above which two chunks say the same thing, per model: the scale is the model's.
# The static model's vectors are bags of word pieces: two LoCoMo chunks sharing a turn (one as text,
# one as context) reach 0.95 (median of adjacent chunks 0.952, against 0.820 with MiniLM).
DEFAULT_DUPLICATE_COSINE = 0.95
DUPLICATE_COSINE = {static.NAME: 0.99}


@dataclass(frozen=True)
class Model:
    id: int
    name: str
    version: str
    dimension: int

    @property
    def duplicate_cosine(self) -> float:
        """Near-duplicates are judged on the model's own similarity scale (retrieval/dedup.py)."""
        return DUPLICATE_COSINE.get(self.name, DEFAULT_DUPLICATE_COSINE)


@dataclass(frozen=True)
class NamespaceModels:
    active: Model
    target: Model | None  # set while the namespace migrates to another model

    def current(self) -> tuple[Model, ...]:
        """The models a write must produce vectors for."""
        return (self.active,) if self.target is None else (self.active, self.target)


_MODEL_COLUMNS = "id, name, version, dimension"


def index_name(model: Model) -> str:
    return f"chunks_embedding_hnsw_m{model.id}"


class Described(Protocol):
    name: str
    version: str
    dimension: int


def register(conn: psycopg.Connection[Any], spec: Described) -> Model:
    """The model's registry row (created on first use) and its partial HNSW index.

    `spec`: anything with name, version and dimension (a ModelSpec, a loaded Embedder).
    """
    with conn.cursor(row_factory=class_row(Model)) as cur:
        row = cur.execute(
            f"INSERT INTO embedding_models (name, version, dimension) VALUES (%s, %s, %s)"
            f" ON CONFLICT (name, version) DO NOTHING RETURNING {_MODEL_COLUMNS}",
            (spec.name, spec.version, spec.dimension),
        ).fetchone() or cur.execute(
            f"SELECT {_MODEL_COLUMNS} FROM embedding_models WHERE name = %s AND version = %s",
            (spec.name, spec.version),
        ).fetchone()
    assert row is not None
    if row.dimension != spec.dimension:
        raise ValueError(f"model {spec.name} {spec.version} is registered with dimension {row.dimension}, "
                         f"not {spec.dimension}")
    ensure_index(conn, row)
    return row


def ensure_index(conn: psycopg.Connection[Any], model: Model) -> None:
    """A partial HNSW index over this model's vectors; queries must repeat its expression and predicate."""
    if model.dimension > HNSW_MAX_DIMENSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INDEX_LOCK,))
        conn.execute(sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON chunks USING hnsw ((embedding::vector({dim})) vector_cosine_ops)"
            " WHERE embedding_model_id = {id}"
        ).format(name=sql.Identifier(index_name(model)), dim=sql.Literal(model.dimension), id=sql.Literal(model.id)))


def by_id(conn: psycopg.Connection[Any], model_id: int) -> Model:
    row = conn.cursor(row_factory=class_row(Model)).execute(
        f"SELECT {_MODEL_COLUMNS} FROM embedding_models WHERE id = %s", (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"no embedding model with id {model_id}")
    return row


def namespace_models(conn: psycopg.Connection[Any], namespace_id: int, default: Model,
                     lock: Literal["share", "update"] | None = None) -> NamespaceModels:
    """The namespace's models; `lock` takes the namespace row (inside a transaction) so they cannot change.

    A namespace without an active model (created before it had one) uses `default`.
    """
    suffix = {None: "", "share": " FOR SHARE", "update": " FOR UPDATE"}[lock]
    row = conn.execute(
        f"SELECT active_model_id, target_model_id FROM namespaces WHERE id = %s{suffix}", (namespace_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no namespace with id {namespace_id}")
    active = default if row[0] is None or row[0] == default.id else by_id(conn, row[0])
    target = None if row[1] is None else by_id(conn, row[1])
    return NamespaceModels(active, target)


def adopt_default(conn: psycopg.Connection[Any], namespace_id: int, default: Model) -> None:
    """Give a namespace without an active model the service's default (before its first write)."""
    conn.execute("UPDATE namespaces SET active_model_id = %s WHERE id = %s AND active_model_id IS NULL",
                 (default.id, namespace_id))


def default_model(conn: psycopg.Connection[Any], embedders: Embedders) -> Model:
    return registered(conn, embedders, embedders.default)


def registered(conn: psycopg.Connection[Any], embedders: Embedders, name: str) -> Model:
    """The registry row of a model this process can run (registered once per process)."""
    spec = embedders.spec(name)
    key = (conn.info.host, str(conn.info.port), conn.info.dbname, spec.name, spec.version)
    model = embedders.registered.get(key)
    if model is None:
        model = register(conn, spec)
        embedders.registered[key] = model
    return model


def input_hash(text: str) -> bytes:
    """sha256 of an embedding input; the SQL function embedding_input_hash computes the same."""
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class ModelNames:
    """What the operator's page shows of a namespace's models, without loading any of them."""

    active: str | None  # None: the namespace has not chosen one yet (its first write adopts the default)
    target: Model | None  # the model being migrated to


def model_names(conn: psycopg.Connection[Any], namespace_id: int) -> ModelNames:
    row = conn.execute(
        "SELECT a.name, t.id, t.name, t.version, t.dimension FROM namespaces n"
        " LEFT JOIN embedding_models a ON a.id = n.active_model_id"
        " LEFT JOIN embedding_models t ON t.id = n.target_model_id WHERE n.id = %(ns)s",
        {"ns": namespace_id},
    ).fetchone()
    if row is None:
        return ModelNames(None, None)
    return ModelNames(row[0], Model(row[1], row[2], row[3], row[4]) if row[1] is not None else None)


@dataclass(frozen=True)
class MigrationProgress:
    """How far a migration to `target` has got: rows, and those with a vector of the target."""

    chunks: int
    chunks_embedded: int
    entries: int
    entries_embedded: int


def migration_progress(conn: psycopg.Connection[Any], namespace_id: int, target: Model | None) -> MigrationProgress:
    """Counts in one round trip; without a target nothing is embedded for one (0)."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM chunks WHERE namespace_id = %(ns)s),"
        " (SELECT count(*) FROM pending_chunk_vectors WHERE namespace_id = %(ns)s AND model_id = %(m)s),"
        " (SELECT count(*) FROM scratchpad_entries WHERE namespace_id = %(ns)s),"
        " (SELECT count(*) FROM pending_entry_vectors WHERE namespace_id = %(ns)s AND model_id = %(m)s)",
        {"ns": namespace_id, "m": target.id if target else None},
    ).fetchone()
    assert row is not None
    return MigrationProgress(*(int(v) for v in row))
