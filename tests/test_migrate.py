import threading

import psycopg

from agentmem.core.migrate import available_migrations, migrate

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
        assert "(namespace_id, lexeme, chunk_id)" in indexes["chunk_terms_pkey"]  # the BM25 inverted index
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
