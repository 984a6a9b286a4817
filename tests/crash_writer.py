"""Run by test_durability in a subprocess: upsert documents forever, until killed with SIGKILL."""

from __future__ import annotations

import sys
import uuid

import psycopg
from pgvector.psycopg import register_vector

from agentmem.embeddings.registry import Embedders
from hash_embedder import HashEmbedder
from agentmem.memory.documents import DocumentInput, upsert_documents
from agentmem.memory.namespaces import Principal


def main(url: str, namespace_id: int, key_id: str) -> None:
    who = Principal(namespace_id=namespace_id, namespace="crash", key_id=uuid.UUID(key_id))
    embedder = Embedders.of(HashEmbedder())
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        i = 0
        while True:
            # Ten sources rewritten over and over, each a few hundred chunks: most time is inside transactions.
            text = " ".join(f"Round {i} sentence {j} of source {i % 10}." for j in range(3000))
            upsert_documents(conn, embedder, who, [DocumentInput(source_uri=f"src-{i % 10}", text=text)], 32)
            print(i, flush=True)
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
