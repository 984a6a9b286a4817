"""Re-embedding: vectors made stale by a content change or by a model change, redone in batches.

Each step is idempotent and derives what is left from the database, so a worker killed at any
point is resumed by the next one (jobs/queue.py) without redoing committed batches:

1. content changed: chunks whose input (context + text) no longer hashes to `embedded_hash` are
   re-embedded by the active model, in place, one transaction per batch. (Upserts embed changed
   text synchronously, so this only finds chunks changed behind the service's back.) Triggers
   record such chunks in `stale_chunks` (migration 0009): finding them reads that, not every text.
2. model changed (the namespace has a target model): chunks and scratchpad entries without a
   vector of the target get one in pending_*_vectors, one transaction per batch; search keeps
   using the active model's vectors meanwhile.
3. flip: one transaction takes the namespace row FOR UPDATE (every writer holds it FOR SHARE and
   writes the target's vectors too while a target is set), checks that every chunk and entry has
   its target vector, moves them all into place and makes the target the active model. A reader
   sees every vector of the old model or every vector of the new, never a mix and never a gap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from agentmem.embeddings.models import Model, NamespaceModels, input_hash, namespace_models, registered
from agentmem.embeddings.registry import Embedders

log = logging.getLogger("agentmem.reembed")

MAX_ROUNDS = 5  # embed-then-flip rounds; a flip finds something missing only after a rare race

Progress = Callable[[int, "int | None"], None]

# A chunk needs its target vector when it has none made from its current input.
_MISSING_CHUNK = (
    "NOT EXISTS (SELECT 1 FROM pending_chunk_vectors p WHERE p.chunk_id = c.id AND p.model_id = %(model)s"
    " AND p.embedded_hash = embedding_input_hash(c.context, c.text))"
)
_MISSING_ENTRY = (
    "NOT EXISTS (SELECT 1 FROM pending_entry_vectors p WHERE p.entry_id = e.id AND p.model_id = %(model)s)"
)


class _ModelsChanged(Exception):
    """The namespace's models changed under the job: start the round again from what is stored."""


@dataclass(frozen=True)
class Stale:
    changed: int  # chunks whose input changed since they were embedded
    chunks_missing: int  # chunks without a vector of the target model
    entries_missing: int  # scratchpad entries without one

    def total(self) -> int:
        return self.changed + self.chunks_missing + self.entries_missing


def stale(conn: psycopg.Connection[Any], namespace_id: int, models: NamespaceModels) -> Stale:
    changed = conn.execute("SELECT count(*) FROM stale_chunks WHERE namespace_id = %(ns)s AND input_changed",
                           {"ns": namespace_id}).fetchone()
    if models.target is None:
        return Stale(int(changed[0]), 0, 0)  # type: ignore[index]
    params = {"ns": namespace_id, "model": models.target.id}
    chunks = conn.execute(f"SELECT count(*) FROM chunks c WHERE c.namespace_id = %(ns)s AND {_MISSING_CHUNK}",
                          params).fetchone()
    entries = conn.execute(
        f"SELECT count(*) FROM scratchpad_entries e WHERE e.namespace_id = %(ns)s AND {_MISSING_ENTRY}", params
    ).fetchone()
    return Stale(int(changed[0]), int(chunks[0]), int(entries[0]))  # type: ignore[index]


def due_namespaces(conn: psycopg.Connection[Any]) -> list[int]:
    """Namespaces with work for the job: a migration under way, or chunks whose content changed."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM namespaces WHERE target_model_id IS NOT NULL"
        " UNION SELECT DISTINCT namespace_id FROM stale_chunks WHERE input_changed ORDER BY 1"
    )]


@dataclass(frozen=True)
class MigrationStart:
    status: str  # unchanged (already active) | cancelled (back to the active one) | migrating | started
    models: NamespaceModels


def start_migration(conn: psycopg.Connection[Any], embedders: Embedders, default: Model, namespace_id: int,
                    name: str) -> MigrationStart:
    """Make `name` the namespace's target model (the job then embeds and flips). Idempotent."""
    model = registered(conn, embedders, name)  # its index first: CREATE INDEX must not wait inside our lock
    with conn.transaction():
        models = namespace_models(conn, namespace_id, default, lock="update")
        if model == models.active:
            if models.target is None:
                return MigrationStart("unchanged", models)
            _set_target(conn, namespace_id, None)
            return MigrationStart("cancelled", NamespaceModels(models.active, None))
        if model == models.target:
            return MigrationStart("migrating", models)
        _set_target(conn, namespace_id, model)
    return MigrationStart("started", NamespaceModels(models.active, model))


def _set_target(conn: psycopg.Connection[Any], namespace_id: int, model: Model | None) -> None:
    conn.execute("UPDATE namespaces SET target_model_id = %s WHERE id = %s",
                 (None if model is None else model.id, namespace_id))
    # Vectors of an abandoned target are of no use any more.
    for table in ("pending_chunk_vectors", "pending_entry_vectors"):
        conn.execute(f"DELETE FROM {table} WHERE namespace_id = %s AND model_id IS DISTINCT FROM %s",
                     (namespace_id, None if model is None else model.id))


def reembed_namespace(pool: ConnectionPool, embedders: Embedders, default: Model, namespace_id: int,
                      batch: int, progress: Progress) -> dict[str, Any]:
    """Bring the namespace's vectors up to date; returns what was done. Resumable at any point."""
    done = {"content_changed": 0, "chunks": 0, "entries": 0}
    with pool.connection() as conn:
        models = namespace_models(conn, namespace_id, default)
        total = stale(conn, namespace_id, models).total()
    progress(0, total)

    def advance(kind: str, n: int) -> None:
        nonlocal total
        done[kind] += n
        total = max(total, sum(done.values()))
        progress(sum(done.values()), total)

    result: dict[str, Any] = {}
    for _ in range(MAX_ROUNDS):
        try:
            with pool.connection() as conn:
                models = namespace_models(conn, namespace_id, default)
            _walk(pool, batch, lambda after: _refresh_changed(pool, embedders, default, namespace_id, models,
                                                              after, batch), lambda n: advance("content_changed", n))
            if models.target is None:
                break
            target = models.target
            _walk(pool, batch, lambda after: _embed_chunks(pool, embedders, namespace_id, target, after, batch),
                  lambda n: advance("chunks", n))
            _walk(pool, batch, lambda after: _embed_entries(pool, embedders, namespace_id, target, after, batch),
                  lambda n: advance("entries", n))
            with pool.connection() as conn:
                flipped = _flip(conn, namespace_id, default, target)
            if flipped is not None:
                result["flipped"] = {"from": _describe(models.active), "to": _describe(target), **flipped}
                break
        except _ModelsChanged:
            continue
    with pool.connection() as conn:
        left = stale(conn, namespace_id, namespace_models(conn, namespace_id, default))
    progress(sum(done.values()), total)
    return {**done, **result, "left": left.total()}


def _describe(model: Model) -> dict[str, Any]:
    return {"name": model.name, "version": model.version, "dimension": model.dimension}


def _walk(pool: ConnectionPool, batch: int, step: Callable[[Any], tuple[int, Any]], advance: Callable[[int], None]) -> None:
    """Run `step(after)` batch after batch, in id order, until it finds nothing more."""
    after: Any = None
    while True:
        n, after = step(after)
        if n:
            advance(n)
        if after is None:
            return


def _refresh_changed(pool: ConnectionPool, embedders: Embedders, default: Model, namespace_id: int,
                     models: NamespaceModels, after: int | None, batch: int) -> tuple[int, int | None]:
    """Re-embed, in place, one batch of chunks whose content changed. Returns (done, last id or None)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT c.id, embedding_input(c.context, c.text) FROM stale_chunks s JOIN chunks c ON c.id = s.chunk_id"
            " WHERE s.namespace_id = %(ns)s AND s.input_changed AND c.id > %(after)s ORDER BY c.id LIMIT %(n)s",
            {"ns": namespace_id, "after": after or 0, "n": batch},
        ).fetchall()
        if not rows:
            return 0, None
        active = models.active
        vectors = _embed(embedders, active, [r[1] for r in rows], namespace_id)
        with conn.transaction():
            if namespace_models(conn, namespace_id, default, lock="share") != models:
                raise _ModelsChanged()
            with conn.cursor() as cur:
                # Only if the input is still what was embedded (the write path may have replaced it).
                cur.executemany(
                    "UPDATE chunks SET embedding = %s, embedded_hash = %s WHERE id = %s AND embedding_model_id = %s"
                    " AND embedding_input_hash(context, text) = %s",
                    [(v, h, r[0], active.id, h) for r, v, h in zip(rows, vectors, _hashes(rows), strict=True)],
                )
    return len(rows), rows[-1][0]


def _embed_chunks(pool: ConnectionPool, embedders: Embedders, namespace_id: int, target: Model,
                  after: int | None, batch: int) -> tuple[int, int | None]:
    """Write the target's vectors of one batch of chunks that lack them."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT c.id, embedding_input(c.context, c.text) FROM chunks c WHERE c.namespace_id = %(ns)s"
            f" AND c.id > %(after)s AND {_MISSING_CHUNK} ORDER BY c.id LIMIT %(n)s",
            {"ns": namespace_id, "after": after or 0, "n": batch, "model": target.id},
        ).fetchall()
        if not rows:
            return 0, None
        vectors = _embed(embedders, target, [r[1] for r in rows], namespace_id)
        _insert_while_rows_vanish(
            conn,
            "INSERT INTO pending_chunk_vectors (chunk_id, model_id, namespace_id, embedded_hash, embedding)"
            " SELECT %(id)s, %(model)s, %(ns)s, %(hash)s, %(v)s"
            " WHERE EXISTS (SELECT 1 FROM namespaces WHERE id = %(ns)s AND target_model_id = %(model)s)"
            " AND EXISTS (SELECT 1 FROM chunks WHERE id = %(id)s)"
            " ON CONFLICT (chunk_id, model_id) DO UPDATE"
            " SET embedded_hash = excluded.embedded_hash, embedding = excluded.embedding",
            [{"id": r[0], "model": target.id, "ns": namespace_id, "hash": h, "v": v}
             for r, v, h in zip(rows, vectors, _hashes(rows), strict=True)],
        )
    return len(rows), rows[-1][0]


def _insert_while_rows_vanish(conn: psycopg.Connection[Any], statement: str, params: list[dict[str, Any]]) -> None:
    """The batch's vectors, for the rows still there. A document rewritten while the batch embedded
    replaces its chunks (a scratchpad entry may be deleted): the statement skips what is gone, and a
    row deleted between that check and the insert's foreign-key check makes the batch go again."""
    for attempt in range(3):
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(statement, params)
            return
        except psycopg.errors.ForeignKeyViolation:
            if attempt == 2:
                raise


def _embed_entries(pool: ConnectionPool, embedders: Embedders, namespace_id: int, target: Model,
                   after: Any, batch: int) -> tuple[int, Any]:
    """Write the target's vectors of one batch of scratchpad entries that lack them."""
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT e.id, e.content FROM scratchpad_entries e WHERE e.namespace_id = %(ns)s"
            f" AND (%(after)s::uuid IS NULL OR e.id > %(after)s) AND {_MISSING_ENTRY} ORDER BY e.id LIMIT %(n)s",
            {"ns": namespace_id, "after": after, "n": batch, "model": target.id},
        ).fetchall()
        if not rows:
            return 0, None
        vectors = _embed(embedders, target, [r[1] for r in rows], namespace_id)
        _insert_while_rows_vanish(
            conn,
            "INSERT INTO pending_entry_vectors (entry_id, model_id, namespace_id, embedding)"
            " SELECT %(id)s, %(model)s, %(ns)s, %(v)s"
            " WHERE EXISTS (SELECT 1 FROM namespaces WHERE id = %(ns)s AND target_model_id = %(model)s)"
            " AND EXISTS (SELECT 1 FROM scratchpad_entries WHERE id = %(id)s)"
            " ON CONFLICT (entry_id, model_id) DO UPDATE SET embedding = excluded.embedding",
            [{"id": r[0], "model": target.id, "ns": namespace_id, "v": v} for r, v in zip(rows, vectors, strict=True)],
        )
    return len(rows), rows[-1][0]


def _flip(conn: psycopg.Connection[Any], namespace_id: int, default: Model, target: Model) -> dict[str, int] | None:
    """Move every target vector into place and make the target active, in one transaction; None if the
    namespace is not complete (or its target changed): the caller embeds what is missing and retries."""
    with conn.transaction():
        models = namespace_models(conn, namespace_id, default, lock="update")  # writers wait; we waited for them
        if models.target != target:
            raise _ModelsChanged()
        left = stale(conn, namespace_id, models)
        if left.chunks_missing or left.entries_missing:
            return None
        params = {"ns": namespace_id, "model": target.id}
        chunks = conn.execute(
            "UPDATE chunks c SET embedding = p.embedding, embedding_model_id = p.model_id, embedded_hash = p.embedded_hash"
            " FROM pending_chunk_vectors p WHERE p.chunk_id = c.id AND p.model_id = %(model)s AND c.namespace_id = %(ns)s",
            params,
        ).rowcount
        entries = conn.execute(
            "UPDATE scratchpad_entries e SET embedding = p.embedding, embedding_model_id = p.model_id"
            " FROM pending_entry_vectors p WHERE p.entry_id = e.id AND p.model_id = %(model)s AND e.namespace_id = %(ns)s",
            params,
        ).rowcount
        conn.execute("DELETE FROM pending_chunk_vectors WHERE namespace_id = %(ns)s", params)
        conn.execute("DELETE FROM pending_entry_vectors WHERE namespace_id = %(ns)s", params)
        conn.execute("UPDATE namespaces SET active_model_id = %(model)s, target_model_id = NULL WHERE id = %(ns)s",
                     params)
    log.info("namespace %s now searches with %s %s (%d chunks, %d entries moved)", namespace_id, target.name,
             target.version, chunks, entries)
    return {"chunks_moved": chunks, "entries_moved": entries}


def _embed(embedders: Embedders, model: Model, texts: list[str], namespace_id: int) -> np.ndarray:
    vectors = embedders.get(model.name, model.version).embed(texts, namespace_id)
    if vectors.shape != (len(texts), model.dimension):
        raise RuntimeError(f"model {model.name} returned vectors of shape {vectors.shape} for {len(texts)} texts")
    return vectors


def _hashes(rows: list[Any]) -> list[bytes]:
    return [input_hash(r[1]) for r in rows]

