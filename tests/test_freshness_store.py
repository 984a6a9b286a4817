"""Freshness in SQL: the same numbers as the pure formula for any stored interval, and the
vectors-current state (stale_chunks, migration 0009) kept right by writes, edits, re-embedding and flips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgvector.psycopg import register_vector
from reembed_helpers import NEW, OLD, embedders, seed, services_for

from agentmem.embeddings.models import namespace_models
from agentmem.embeddings.reembed import due_namespaces, reembed_namespace, stale, start_migration
from agentmem.memory.documents import DocumentInput, upsert_documents
from agentmem.memory.freshness import FreshnessPolicy, freshness_score
from agentmem.memory.freshness_store import document_freshness, freshness_by_document, namespace_freshness

INTERVALS = ["0 seconds", "1 microsecond", "1 minute", "7 days", "30 days", "100000 days"]
AGES = ["0 seconds", "1 minute", "3 days", "400 days", "100 years"]


def _stale_rows(db: psycopg.Connection[Any], ns: int) -> list[tuple[int, bool, bool]]:
    return db.execute("SELECT chunk_id, input_changed, other_model FROM stale_chunks WHERE namespace_id = %s"
                      " ORDER BY chunk_id", (ns,)).fetchall()


@pytest.mark.parametrize("interval", INTERVALS)
def test_sql_scores_are_the_pure_formula_for_any_stored_interval(interval: str, fresh_db: str) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=len(AGES), sentences=3)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM documents WHERE namespace_id = %s ORDER BY source_uri",
                                        (who.namespace_id,))]
        for doc_id, age in zip(ids, AGES, strict=True):
            db.execute("UPDATE documents SET refresh_interval = %s::interval,"
                       " last_verified_at = now() - %s::interval WHERE id = %s", (interval, age, doc_id))
        # The namespace's own setting, stored as it might have been before validation: used by no document here.
        policy = FreshnessPolicy.from_settings({"refresh_interval_days": 0})
        with db.transaction():  # one now() for the SQL and the formula
            now = db.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            got = freshness_by_document(db, who.namespace_id, ids, policy, OLD.name)
            rows = db.execute("SELECT id, last_verified_at, extract(epoch FROM refresh_interval)::float8 / 86400"
                              " FROM documents WHERE id = ANY(%s)", (ids,)).fetchall()
        for doc_id, verified, days in rows:
            want = freshness_score(now, verified, days)
            assert got[doc_id] == pytest.approx(want, rel=1e-9, abs=1e-300), (interval, verified, days)
            assert 0 < got[doc_id] <= 1


def test_policy_from_stored_settings_is_clamped_into_the_defined_range() -> None:
    assert FreshnessPolicy.from_settings({"refresh_interval_days": 0}).refresh_interval_days == pytest.approx(1 / 1440)
    assert FreshnessPolicy.from_settings({"refresh_interval_days": 1e9}).refresh_interval_days == 36_500
    assert FreshnessPolicy.from_settings({"stale_below": 7, "weight": -1}) == FreshnessPolicy(stale_below=1, weight=0)


def test_stale_chunks_follow_edits_reembedding_and_model_changes(fresh_db: str, tmp_path: Path) -> None:
    models = embedders()
    who, _ = seed(fresh_db, models, docs=3, sentences=10)
    ns, policy = who.namespace_id, FreshnessPolicy()
    with services_for(fresh_db, models, tmp_path) as services, psycopg.connect(fresh_db, autocommit=True) as db:
        register_vector(db)
        assert _stale_rows(db, ns) == [] and due_namespaces(db) == []
        doc, chunk = db.execute("SELECT document_id, id FROM chunks WHERE namespace_id = %s ORDER BY id LIMIT 1",
                                (ns,)).fetchone()  # type: ignore[misc]
        # Changed behind the service's back: recorded, and the document's vectors are no longer current.
        db.execute("UPDATE chunks SET context = 'a new title' WHERE id = %s", (chunk,))
        assert _stale_rows(db, ns) == [(chunk, True, False)]
        d = document_freshness(db, ns, doc, policy, OLD.name)
        assert d is not None and not d.vectors_current and d.score == 0
        assert namespace_freshness(db, ns, policy, OLD.name).stale == 1 and due_namespaces(db) == [ns]
        assert stale(db, ns, namespace_models(db, ns, services.default_model)).changed == 1
        reembed_namespace(services.pool, models, services.default_model, ns, 8, lambda *_: None)
        assert _stale_rows(db, ns) == [] and due_namespaces(db) == []
        assert document_freshness(db, ns, doc, policy, OLD.name).vectors_current  # type: ignore[union-attr]

        # Another active model (by hand): every chunk is of the wrong model; back again, none is.
        other = db.execute("INSERT INTO embedding_models (name, version, dimension) VALUES ('other', '1', 384)"
                           " RETURNING id").fetchone()[0]  # type: ignore[index]
        active = db.execute("SELECT active_model_id FROM namespaces WHERE id = %s", (ns,)).fetchone()[0]  # type: ignore[index]
        n_chunks = db.execute("SELECT count(*) FROM chunks WHERE namespace_id = %s", (ns,)).fetchone()[0]  # type: ignore[index]
        db.execute("UPDATE chunks SET text = text || '!' WHERE id = %s", (chunk,))  # and one input changed too
        db.execute("UPDATE namespaces SET active_model_id = %s WHERE id = %s", (other, ns))
        rows = _stale_rows(db, ns)
        assert len(rows) == n_chunks and all(r[2] for r in rows) and [r[0] for r in rows if r[1]] == [chunk]
        assert namespace_freshness(db, ns, policy, OLD.name).stale == 3
        db.execute("UPDATE namespaces SET active_model_id = %s WHERE id = %s", (active, ns))
        assert _stale_rows(db, ns) == [(chunk, True, False)]

        # A write replaces the document's chunks: its stale rows go with them.
        with services.pool.connection() as conn:
            upsert_documents(conn, models, who, [DocumentInput("doc:0", "Rewritten through the API.")], 16)
            upsert_documents(conn, models, who, [DocumentInput("doc:1", "Rewritten too.")], 16)
            upsert_documents(conn, models, who, [DocumentInput("doc:2", "And this one.")], 16)
        assert _stale_rows(db, ns) == []

        # A migration to another model: stale nothing after its flip (reembed_helpers.assert_all_by checks too).
        with services.pool.connection() as conn:
            start_migration(conn, models, services.default_model, ns, NEW.name)
        reembed_namespace(services.pool, models, services.default_model, ns, 8, lambda *_: None)
        assert _stale_rows(db, ns) == [] and namespace_freshness(db, ns, policy, OLD.name).stale == 0
        assert db.execute("SELECT count(*) FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
                          " WHERE c.namespace_id = %s AND m.name = %s", (ns,  NEW.name)).fetchone()[0] > 0  # type: ignore[index]
        # Deleting chunks deletes their rows.
        db.execute("UPDATE chunks SET text = 'edited again' WHERE namespace_id = %s", (ns,))
        assert len(_stale_rows(db, ns)) > 0
        db.execute("DELETE FROM documents WHERE namespace_id = %s", (ns,))
        assert _stale_rows(db, ns) == []


def test_a_namespace_without_an_active_model_compares_model_names(fresh_db: str) -> None:
    """Chunks written behind the service's back into a namespace that never adopted a model."""
    models = embedders()
    who, _ = seed(fresh_db, models, docs=1, sentences=3)
    with psycopg.connect(fresh_db, autocommit=True) as db:
        db.execute("UPDATE namespaces SET active_model_id = NULL WHERE id = %s", (who.namespace_id,))
        doc = db.execute("SELECT id FROM documents WHERE namespace_id = %s", (who.namespace_id,)).fetchone()[0]  # type: ignore[index]
        assert document_freshness(db, who.namespace_id, doc, FreshnessPolicy(), OLD.name).vectors_current  # type: ignore[union-attr]
        assert not document_freshness(db, who.namespace_id, doc, FreshnessPolicy(), "another").vectors_current  # type: ignore[union-attr]
