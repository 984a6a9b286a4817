import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.api.app import create_app
from agentmem.core.settings import Settings

from agentmem.core.migrate import MigrationChanged, available_migrations, migrate

EXPECTED_TABLES = {
    "schema_migrations", "namespaces", "api_keys", "tasks", "task_versions",
    "scratchpad_entries", "documents", "document_versions", "chunks", "chunk_terms", "namespace_stats", "assemble_traces",
    "embedding_models", "pending_chunk_vectors", "pending_entry_vectors",
}


def test_empty_database_gets_every_table_and_index(empty_db: str) -> None:
    applied = migrate(empty_db)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    with psycopg.connect(empty_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert EXPECTED_TABLES <= tables
        indexes = {r[0]: r[1] for r in conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")}
        # One partial HNSW index per embedding model, over the vectors cast to its dimension.
        assert "USING hnsw (((embedding)::vector(384)) vector_cosine_ops) WHERE (embedding_model_id = 1)" in \
            indexes["chunks_embedding_hnsw_m1"]
        # the BM25 inverted index, a document's postings of a term in one range (migration 0019)
        assert "(namespace_id, lexeme, document_id, chunk_id) INCLUDE (tf, dl)" in indexes["chunk_terms_pkey"]
        assert "(document_id, id)" in indexes["chunks_document_first"]
        assert "chunks_namespace" in indexes
        assert "(job_id, probe_id)" in indexes["probe_runs_once_per_job"]  # a resumed probes job repeats nothing
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert ext is not None and tuple(int(x) for x in ext[0].split(".")[:2]) >= (0, 8)
        recorded = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert recorded == [m.version for m in available_migrations()]


def test_second_run_applies_nothing(empty_db: str) -> None:
    migrate(empty_db)
    assert migrate(empty_db) == []


def test_replicas_starting_together_apply_each_migration_once(empty_db: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append([m.version for m in migrate(empty_db)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in available_migrations()]


def test_a_migration_changed_after_it_was_applied_is_refused(empty_db: str) -> None:
    migrate(empty_db)
    files = available_migrations()
    edited = [replace(m, sql=m.sql + "\n-- an edit made after the fact\n") if m.version == 3 else m for m in files]
    with pytest.raises(MigrationChanged) as refused:
        migrate(empty_db, edited)
    assert "migrations/0003_bm25_covering.sql changed after being applied" in refused.value.message
    assert "new migration" in refused.value.message
    # The same files as applied still pass, and line endings do not count as a change.
    assert migrate(empty_db, [replace(m, sql=m.sql.replace("\n", "\r\n")) for m in files]) == []


def test_a_database_from_before_checksums_adopts_the_files_it_has(empty_db: str) -> None:
    migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = NULL")
    assert migrate(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        recorded = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
    assert recorded == {m.version: m.checksum for m in available_migrations()}


def test_the_service_refuses_to_start_on_a_changed_migration(empty_db: str, tmp_path: Path) -> None:
    migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'not-what-the-file-says' WHERE version = 2")
    env = {**os.environ, "DATABASE_URL": empty_db, "AGENTMEM_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "agentmem.cli", "migrate"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert "agentmem: migrations/0002_retrieval.sql changed after being applied" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_app_does_not_start_on_a_changed_migration(settings: Settings, embedder: object) -> None:
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 4")
    with pytest.raises(MigrationChanged, match="0004_freshness_jobs_probes.sql changed after being applied"):
        with TestClient(create_app(settings, embedder=embedder)):
            pass
