"""Re-embedding (embeddings/reembed.py): a model migration with two really different models, search
during and after it, writes racing the flip, content changed behind the service's back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from agentmem.core.database import as_array
from agentmem.embeddings.models import input_hash, namespace_models
from agentmem.embeddings.reembed import due_namespaces, reembed_namespace, stale, start_migration
from agentmem.memory.documents import DocumentInput, current_models, index_text, prepare, upsert_documents, write_prepared
from reembed_helpers import NEW, OLD, assert_all_by, embedders, seed, services_for
from agentmem.retrieval.filters import Filters
from agentmem.retrieval.search import QueryVector, SearchPlan, Timings, query_embedder, run_search, vector_hits, vector_query
from agentmem.retrieval.strategies import resolve_strategy

VECTOR_ONLY = resolve_strategy("vector_only")


def _search(services: Any, namespace_id: int, query: str = "Document 3 says thing 4.") -> tuple[list[Any], Any]:
    plan = SearchPlan(namespace_id, query, VECTOR_ONLY, Filters(), 20_000)
    results, qvec = run_search(services.pool, query_embedder(services.embedders, services.default_model), plan,
                               None, Timings())
    return [r.hit for r in results], qvec


def test_sql_input_hash_is_the_one_python_computes(db: psycopg.Connection[Any]) -> None:
    for context in (None, "", "a title"):
        for text in ("plain text", "ünïcode — text\nwith lines"):
            got = db.execute("SELECT embedding_input(%s, %s), embedding_input_hash(%s, %s)",
                             (context, text, context, text)).fetchone()
            assert got == (index_text(context, text), input_hash(index_text(context, text)))


def test_a_migration_serves_the_old_model_until_one_flip_then_the_new(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models)
    with services_for(fresh_db, models, tmp_path) as services:
        with services.pool.connection() as conn:
            start = start_migration(conn, models, services.default_model, who.namespace_id, NEW.name)
            assert start.status == "started" and start.models.target is not None
            before = stale(conn, who.namespace_id, start.models)
            n_chunks = conn.execute("SELECT count(*) FROM chunks WHERE namespace_id = %s",
                                    (who.namespace_id,)).fetchone()[0]
        assert before.chunks_missing == n_chunks > 40 and before.entries_missing == 3

        seen: list[tuple[int, int, set[int]]] = []
        wrote_during = False

        def progress(done: int, total: int | None = None) -> None:
            nonlocal wrote_during
            hits, qvec = _search(services, who.namespace_id)
            # Mid-migration: the old model's vectors, all of them, and only them.
            seen.append((done, len(hits), {len(as_array(h.embedding)) for h in hits}))
            if 0 < done < before.total() and not wrote_during:
                wrote_during = True  # a write in the middle: embedded by both models, left behind by neither
                with services.pool.connection() as conn:
                    upsert_documents(conn, models, who, [DocumentInput("doc:late", "Written during the migration. " * 20)],
                                     16)

        result = reembed_namespace(services.pool, models, services.default_model, who.namespace_id, 16, progress)
        assert wrote_during and result["flipped"]["to"]["name"] == NEW.name and result["left"] == 0
        mid = seen[:-1]  # the last call reports the end, after the flip
        assert len(mid) > 5 and all(dims == {OLD.dimension} for _, _, dims in mid)
        assert all(n >= min(VECTOR_ONLY.candidates, n_chunks) for _, n, _ in mid)  # no vector ever missing
        # After the flip: only the new model's vectors, every chunk and entry, the late document too.
        hits, qvec = _search(services, who.namespace_id)
        assert qvec.model.name == NEW.name and hits
        assert {len(as_array(h.embedding)) for h in hits} == {NEW.dimension}
    assert assert_all_by(fresh_db, who.namespace_id, NEW) > n_chunks


def test_chunks_and_entries_gone_while_their_batch_embeds_are_skipped(fresh_db: str, tmp_path: Path) -> None:
    """A document rewritten (its chunks replaced) or an entry deleted between a batch's read and its
    write failed the job on the foreign key, leaving the migration stuck until the next schedule."""
    class Deleting:
        def __init__(self) -> None:
            self.name, self.version, self.dimension = NEW.name, NEW.version, NEW.dimension
            self.calls = 0

        def embed(self, texts: Any) -> np.ndarray:
            self.calls += 1
            if self.calls in (1, 5):  # the first chunk batch; a later batch, which holds the entries
                with psycopg.connect(fresh_db, autocommit=True) as other:
                    other.execute("DELETE FROM documents WHERE source_uri = 'doc:0'")
                    other.execute("DELETE FROM scratchpad_entries WHERE id = (SELECT min(id::text)::uuid FROM"
                                  " scratchpad_entries)")
            return NEW.embed(texts)

    models = embedders(Deleting())
    who, _ = seed(fresh_db, models, docs=4)
    with services_for(fresh_db, models, tmp_path) as services:
        with services.pool.connection() as conn:
            assert start_migration(conn, models, services.default_model, who.namespace_id, NEW.name).status == "started"
        result = reembed_namespace(services.pool, models, services.default_model, who.namespace_id, 16,
                                   lambda done, total=None: None)
    assert result["flipped"]["to"]["name"] == NEW.name and result["left"] == 0
    assert assert_all_by(fresh_db, who.namespace_id, NEW) > 0


def test_a_write_holding_the_namespace_delays_the_flip_and_is_migrated(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=4)
    with services_for(fresh_db, models, tmp_path) as services, psycopg.connect(fresh_db, autocommit=True) as writer:
        register_vector(writer)
        with services.pool.connection() as conn:
            start_migration(conn, models, services.default_model, who.namespace_id, NEW.name)
        done: dict[str, Any] = {}
        with writer.transaction():
            models_now = current_models(writer, models, who.namespace_id)
            assert models_now.target is not None and models_now.target.name == NEW.name
            namespace_models(writer, who.namespace_id, services.default_model, lock="share")
            job = threading.Thread(target=lambda: done.update(reembed_namespace(
                services.pool, models, services.default_model, who.namespace_id, 8, lambda *_: None)))
            job.start()
            # Wait (no time limit asserted) until the job's flip waits for our lock.
            for _ in range(600):
                writer.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
                waiting = writer.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE %s", ("%FOR UPDATE%",)).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting == 1 and job.is_alive()
            [p] = prepare([DocumentInput("doc:racing", "A write racing the flip. " * 20)], models, models_now, 16)
            write_prepared(writer, who, p, models, 16)
        job.join()
    assert done["flipped"]["to"]["name"] == NEW.name
    assert assert_all_by(fresh_db, who.namespace_id, NEW) > 0


def test_a_write_prepared_before_the_flip_is_embedded_again_after_it(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=3)
    with services_for(fresh_db, models, tmp_path) as services:
        with services.pool.connection() as conn:
            register_vector(conn)
            [p] = prepare([DocumentInput("doc:slow", "Embedded before the flip. " * 20)], models,
                          current_models(conn, models, who.namespace_id), 16)
            assert set(p.vectors) == {services.default_model.id}  # only the old model's vectors
            start_migration(conn, models, services.default_model, who.namespace_id, NEW.name)
            reembed_namespace(services.pool, models, services.default_model, who.namespace_id, 8, lambda *_: None)
            write_prepared(conn, who, p, models, 16)  # finds the new model active: embeds by it
    assert assert_all_by(fresh_db, who.namespace_id, NEW) > 0


def test_content_changed_behind_the_service_is_reembedded_in_place(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=5)
    with services_for(fresh_db, models, tmp_path) as services, psycopg.connect(fresh_db, autocommit=True) as db:
        register_vector(db)
        assert due_namespaces(db) == []
        before = {r[0]: as_array(r[1]) for r in db.execute("SELECT id, embedding FROM chunks ORDER BY id")}
        changed = db.execute("UPDATE chunks SET text = 'Rewritten directly in the table.'"
                             " WHERE id IN (SELECT id FROM chunks ORDER BY id DESC LIMIT 3) RETURNING id").fetchall()
        assert due_namespaces(db) == [who.namespace_id]
        result = reembed_namespace(services.pool, models, services.default_model, who.namespace_id, 2, lambda *_: None)
        assert result["content_changed"] == 3 and result["left"] == 0 and "flipped" not in result
        after = {r[0]: as_array(r[1]) for r in db.execute("SELECT id, embedding FROM chunks ORDER BY id")}
        for chunk_id, vector in after.items():
            if (chunk_id,) in changed:
                assert not np.allclose(vector, before[chunk_id])
            else:
                assert np.array_equal(vector, before[chunk_id])  # untouched
        assert due_namespaces(db) == []
    assert_all_by(fresh_db, who.namespace_id, OLD)


def test_the_exact_and_hnsw_queries_use_the_models_partial_index(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=2)
    with services_for(fresh_db, models, tmp_path) as services, psycopg.connect(fresh_db, autocommit=True) as db:
        register_vector(db)
        # A tiny table: without a scan or a sort to fall back on, the planner shows the index it can use.
        db.execute("SET enable_seqscan = off")
        db.execute("SET enable_sort = off")
        index = f"chunks_embedding_hnsw_m{services.default_model.id}"
        qvec = QueryVector(services.default_model, OLD.embed(["Document 1 says thing 2."])[0])
        assert len(vector_hits(db, who.namespace_id, qvec, 5, Filters(), exact=False)) == 5
        for exact in (False, True):
            statement, params = vector_query(who.namespace_id, qvec, 5, Filters(), exact=exact)
            plan = "\n".join(r[0] for r in db.execute(sql.SQL("EXPLAIN ") + statement, params))
            assert (index in plan) is not exact, plan  # the exact scan must not walk the graph
        # With the model id as a bind parameter in a generic plan, the partial index is out of reach.
        db.execute("SET plan_cache_mode = force_generic_plan")
        db.execute("PREPARE q(bigint, int, vector) AS SELECT c.id FROM chunks c WHERE c.namespace_id = $1"
                   " AND c.embedding_model_id = $2 ORDER BY (c.embedding::vector(384)) <=> $3 LIMIT 5")
        vector = "[" + ",".join(str(float(x)) for x in qvec.vector) + "]"
        generic = "\n".join(r[0] for r in db.execute(sql.SQL("EXPLAIN EXECUTE q({}, {}, {})").format(
            sql.Literal(who.namespace_id), sql.Literal(services.default_model.id), sql.Literal(vector))))
        assert index not in generic


def test_changing_the_target_or_cancelling_keeps_one_pending_model(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=2)
    with services_for(fresh_db, models, tmp_path) as services, services.pool.connection() as conn:
        default = services.default_model
        assert start_migration(conn, models, default, who.namespace_id, OLD.name).status == "unchanged"
        assert start_migration(conn, models, default, who.namespace_id, NEW.name).status == "started"
        assert start_migration(conn, models, default, who.namespace_id, NEW.name).status == "migrating"
        with pytest.raises(Exception, match="available: hash-test, hash-test-256"):
            start_migration(conn, models, default, who.namespace_id, "no-such-model")
        upsert_documents(conn, models, who, [DocumentInput("doc:new", "Fresh text. " * 10)], 16)
        assert conn.execute("SELECT count(*) FROM pending_chunk_vectors").fetchone()[0] > 0
        assert start_migration(conn, models, default, who.namespace_id, OLD.name).status == "cancelled"
        assert conn.execute("SELECT count(*) FROM pending_chunk_vectors").fetchone()[0] == 0
        assert namespace_models(conn, who.namespace_id, default).target is None
    assert_all_by(fresh_db, who.namespace_id, OLD)
