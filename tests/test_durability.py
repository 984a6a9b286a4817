"""A write is one transaction: after a crash at any point a document is whole (all chunks embedded) or absent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from hash_embedder import HashEmbedder
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, current_models, prepare, upsert_documents, write_prepared
from agentmem.memory.namespaces import Principal, create_namespace, issue_key, resolve_key

HERE = Path(__file__).parent


def _principal(conn: psycopg.Connection) -> Principal:
    create_namespace(conn, "crash")
    key = issue_key(conn, "crash", "writer")
    who = resolve_key(conn, key.key)
    assert who is not None
    return who


def _assert_consistent(conn: psycopg.Connection) -> int:
    """Every document has exactly the chunks its current version recorded, in order, as slices of its text."""
    docs = conn.execute(
        "SELECT d.id, d.text, d.version, v.chunks FROM documents d"
        " JOIN document_versions v ON v.document_id = d.id AND v.version = d.version"
    ).fetchall()
    assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == len(docs)
    for doc_id, text, _version, n in docs:
        chunks = conn.execute(
            "SELECT ord, text FROM chunks WHERE document_id = %s AND embedding IS NOT NULL ORDER BY ord", (doc_id,)
        ).fetchall()
        assert [c[0] for c in chunks] == list(range(n))
        pos = 0
        for _, chunk in chunks:
            found = text.find(chunk, pos)
            assert found >= 0, "a chunk of another version is attached to this document"
            pos = found + len(chunk)
    return len(docs)


def test_kill_9_during_writes_leaves_whole_documents(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        who = _principal(conn)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    rng = random.Random(7)
    aborted = 0
    for kill in range(12):  # at least 4 kills; more until one is seen landing inside a transaction
        if kill >= 4 and aborted:
            break
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_writer.py"), fresh_db, str(who.namespace_id), str(who.key_id)],
            stdout=subprocess.PIPE, env=env, text=True,
        )
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # at least one write done, then kill at a random moment of the next ones
            time.sleep(rng.uniform(0.05, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        aborted = _rollbacks(fresh_db)
    with psycopg.connect(fresh_db) as conn:
        assert _assert_consistent(conn) >= 1
    # Evidence that kills landed inside transactions: the server rolled back the writes cut short. (A kill
    # can also land between transactions, while the writer chunks and embeds: more so on a loaded machine.)
    assert aborted >= 1


def _rollbacks(url: str) -> int:
    """Transactions the server rolled back in this database, waiting up to 5 s for the statistics."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(50):
            conn.execute("SELECT pg_stat_clear_snapshot()")
            aborted = conn.execute(
                "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]
            if aborted:
                return int(aborted)
            time.sleep(0.1)
    return 0


def test_failure_inside_the_write_keeps_the_previous_version(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        who = _principal(conn)
        emb = Embedders.of(HashEmbedder())
        [first] = upsert_documents(conn, emb, who, [DocumentInput("s", "version one. " * 200)], 32)
        models = current_models(conn, emb, who.namespace_id)
        [p] = prepare([DocumentInput("s", "version two. " * 200)], emb, models, 32)
        good = p.vectors[models.active.id]
        p.vectors[models.active.id] = [*good[:-1], np.zeros(7, dtype=np.float32)]  # type: ignore[assignment]  # last one malformed
        with pytest.raises(Exception):
            write_prepared(conn, who, p, emb, 32)
        row = conn.execute("SELECT version, left(text, 11) FROM documents").fetchone()
        assert row == (1, "version one")
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == first.chunks
        assert _assert_consistent(conn) == 1
