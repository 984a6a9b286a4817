"""Shared by the re-embedding tests and their subprocess workers: two really different models, a
namespace with documents and scratchpad entries, and the check that a migration is complete."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from agentmem.core.database import as_array, open_pool
from agentmem.api.services import Services
from agentmem.core.settings import Settings
from agentmem.embeddings.models import default_model
from agentmem.embeddings.registry import Embedders
from hash_embedder import HashEmbedder
from agentmem.memory.documents import DocumentInput, index_text, upsert_documents
from agentmem.memory.namespaces import Principal, create_namespace, issue_key, resolve_key
from agentmem.memory.scratchpad import add_entry
from agentmem.memory.tasks import create_task

OLD = HashEmbedder()  # hash-test, 384 dimensions
NEW = HashEmbedder(256)  # hash-test-256: other vectors, another dimension


class CountingEmbedder:
    """Counts the texts it embeds (and may announce each batch on stdout, for a test that kills it)."""

    def __init__(self, inner: Any, announce: bool = False) -> None:
        self.inner, self.announce = inner, announce
        self.name, self.version, self.dimension = inner.name, inner.version, inner.dimension
        self.texts = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.inner.embed(texts)
        with self._lock:
            self.texts += len(texts)
        if self.announce:
            print(f"embedded {len(texts)}", flush=True)
        return vectors


def embedders(new: Any = NEW) -> Embedders:
    return Embedders.of(OLD, new)


@contextmanager
def services_for(url: str, models: Embedders, data_dir: Path, **settings: Any) -> Iterator[Services]:
    config = Settings(database_url=url, data_dir=data_dir, scheduler=False, **settings)
    pool = open_pool(url, 1, 4)
    try:
        with pool.connection() as conn:
            default = default_model(conn, models)
        with ThreadPoolExecutor(2) as executor:
            yield Services(pool=pool, embedders=models, settings=config, default_model=default, executor=executor)
    finally:
        pool.close()


def seed(url: str, models: Embedders, name: str = "migrating", docs: int = 20,
         sentences: int = 30) -> tuple[Principal, uuid.UUID]:
    """A namespace with `docs` multi-chunk documents (chunks of 16 tokens) and three scratchpad entries."""
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, name, default_model(conn, models).id)
        who = resolve_key(conn, issue_key(conn, name, "test").key)
        assert who is not None
        upsert_documents(conn, models, who, [
            DocumentInput(f"doc:{i}", " ".join(f"Document {i} says thing {j}." for j in range(sentences)),
                          context=f"title {i}" if i % 2 else None)
            for i in range(docs)
        ], 16)
        task = create_task(conn, who, "a goal", [], [])
        for k in range(3):
            add_entry(conn, models, who, task.id, kind="note", content=f"step {k} of the task", citations=[])
    return who, task.id



def assert_all_by(url: str, namespace_id: int, model: Any) -> int:
    """Every chunk and entry of the namespace holds exactly `model`'s vector of its current input, and
    nothing is left pending. Returns the number of chunks."""
    with psycopg.connect(url) as conn:
        register_vector(conn)
        row = conn.execute("SELECT m.name, m.dimension FROM namespaces n JOIN embedding_models m"
                           " ON m.id = n.active_model_id WHERE n.id = %s AND n.target_model_id IS NULL",
                           (namespace_id,)).fetchone()
        assert row == (model.name, model.dimension)
        chunks = conn.execute(
            "SELECT c.context, c.text, c.embedding, m.name FROM chunks c"
            " JOIN embedding_models m ON m.id = c.embedding_model_id WHERE c.namespace_id = %s ORDER BY c.id",
            (namespace_id,)).fetchall()
        assert chunks and {c[3] for c in chunks} == {model.name}
        want = model.embed([index_text(c[0], c[1]) for c in chunks])
        assert np.allclose(np.vstack([as_array(c[2]) for c in chunks]), want, atol=1e-6)
        entries = conn.execute(
            "SELECT e.content, e.embedding, m.name FROM scratchpad_entries e"
            " JOIN embedding_models m ON m.id = e.embedding_model_id WHERE e.namespace_id = %s ORDER BY e.seq",
            (namespace_id,)).fetchall()
        assert {e[2] for e in entries} <= {model.name}
        if entries:
            assert np.allclose(np.vstack([as_array(e[1]) for e in entries]), model.embed([e[0] for e in entries]),
                               atol=1e-6)
        # Migration 0009's state agrees: no chunk of the namespace is recorded as stale.
        assert conn.execute("SELECT count(*) FROM stale_chunks WHERE namespace_id = %s", (namespace_id,)).fetchone() == (0,)
        for table in ("pending_chunk_vectors", "pending_entry_vectors"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE namespace_id = %s",
                                (namespace_id,)).fetchone() == (0,)
        return len(chunks)
