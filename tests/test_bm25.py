"""The in-database BM25 against the Python reference formula, before and after writes and deletes.

Every text here fits one chunk and has no title: with the chunk formula's k1 and b, no title weight
and no passage term, the document-aware retriever (doc_bm25) must then rank exactly as chunk BM25.
Multi-chunk documents and titles are tested in test_doc_bm25.py."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from pgvector.psycopg import register_vector

from hash_embedder import HashEmbedder
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, delete_document, upsert_documents
from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key
from agentmem.retrieval import bm25
from agentmem.retrieval.doc_bm25 import DocParams
from agentmem.retrieval.filters import Filters
from agentmem.retrieval.search import keyword_hits

TEXTS = [
    "The cat sat on the mat while the other cat slept.",
    "Dogs chase cats; cats climb trees to escape dogs.",
    "A database stores rows in tables and indexes them.",
    "Vector databases index embeddings for similarity search.",
    "Cats and dogs can live together peacefully in one house.",
    "Search engines rank documents with BM25 and similar formulas.",
    "The mat was red, and the cat liked the red mat very much.",
]
CHUNK_BM25 = DocParams(k1=bm25.K1, b=bm25.B, title_weight=0.0, passage_weight=0.0)
_LEXEME = re.compile(r"'((?:[^']|'')+)':([\d,A-D]+)")


def _tsv(conn: psycopg.Connection[Any], text: str) -> dict[str, int]:
    raw = conn.execute("SELECT to_tsvector('english', %s)::text", (text,)).fetchone()[0]
    return {m.group(1).replace("''", "'"): len(m.group(2).split(",")) for m in _LEXEME.finditer(raw)}


def _reference(conn: psycopg.Connection[Any], ns: int, query: str) -> list[tuple[int, float]]:
    rows = conn.execute("SELECT id, text FROM chunks WHERE namespace_id = %s", (ns,)).fetchall()
    tfs = {cid: _tsv(conn, text) for cid, text in rows}
    n = len(tfs)
    avgdl = sum(sum(tf.values()) for tf in tfs.values()) / n
    terms = set(_tsv(conn, query))
    df = {t: sum(1 for tf in tfs.values() if t in tf) for t in terms}
    scored = [(cid, bm25.score(terms, tf, sum(tf.values()), n, avgdl, df)) for cid, tf in tfs.items()]
    return sorted([s for s in scored if s[1] > 0], key=lambda s: (-s[1], s[0]))


@pytest.fixture
def seeded(fresh_db: str):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, "a")
        create_namespace(conn, "b")
        who = resolve_key(conn, issue_key(conn, "a", "k").key)
        other = resolve_key(conn, issue_key(conn, "b", "k").key)
        emb = Embedders.of(HashEmbedder())
        results = upsert_documents(conn, emb, who, [DocumentInput(f"d{i}", t) for i, t in enumerate(TEXTS)], 64)
        # Another namespace's text must not change this namespace's statistics.
        upsert_documents(conn, emb, other, [DocumentInput("x", "cat cat cat mat mat dogs " * 20)], 64)
        yield conn, who, results, emb


@pytest.mark.parametrize("query", ["cat on the mat", "dogs", "database index search", "red mat cat", "nothing here"])
def test_sql_bm25_matches_reference(seeded, query: str) -> None:
    conn, who, _, _ = seeded
    got = [(h.chunk_id, h.score) for h in keyword_hits(conn, who.namespace_id, query, 20, params=CHUNK_BM25)]
    want = _reference(conn, who.namespace_id, query)
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-9)


def test_statistics_follow_writes_and_deletes(seeded) -> None:
    conn, who, results, emb = seeded
    delete_document(conn, who, results[0].id)
    upsert_documents(conn, emb, who, [DocumentInput("d4", "A brand new text about cats only.")], 64)
    stats = conn.execute("SELECT chunks, total_terms FROM namespace_stats WHERE namespace_id = %s",
                         (who.namespace_id,)).fetchone()
    recount = conn.execute("SELECT count(*), sum(tsvector_length_total(tsv)) FROM chunks WHERE namespace_id = %s",
                           (who.namespace_id,)).fetchone()
    assert tuple(stats) == tuple(recount) == (6, recount[1])
    got = [(h.chunk_id, h.score) for h in keyword_hits(conn, who.namespace_id, "cats", 20, params=CHUNK_BM25)]
    want = _reference(conn, who.namespace_id, "cats")
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-9)
    assert conn.execute("SELECT count(*) FROM chunk_terms ct LEFT JOIN chunks c ON c.id = ct.chunk_id"
                        " WHERE c.id IS NULL").fetchone()[0] == 0


@pytest.mark.parametrize("n", [1, 2, 3])
def test_top_n_is_the_head_of_the_full_ranking(seeded, n: int) -> None:
    conn, who, _, _ = seeded
    got = [h.chunk_id for h in keyword_hits(conn, who.namespace_id, "cat mat dogs", n, params=CHUNK_BM25)]
    assert got == [w[0] for w in _reference(conn, who.namespace_id, "cat mat dogs")][:n]


def test_filters_apply_after_namespace_statistics(seeded) -> None:
    conn, who, _, _ = seeded
    ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE namespace_id = %s ORDER BY id", (who.namespace_id,))]
    # Metadata is the document's (stored once): keep the documents of every other chunk.
    conn.execute("UPDATE documents SET metadata = '{\"keep\": true}'"
                 " WHERE id IN (SELECT document_id FROM chunks WHERE id = ANY(%s))", (ids[::2],))
    kept = {r[0] for r in conn.execute(
        "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id"
        " WHERE c.namespace_id = %s AND d.metadata @> '{\"keep\": true}'", (who.namespace_id,))}
    assert 0 < len(kept) < len(ids)
    got = [(h.chunk_id, h.score) for h in keyword_hits(conn, who.namespace_id, "cat dogs", 2,
                                                       Filters(metadata={"keep": True}), params=CHUNK_BM25)]
    want = [w for w in _reference(conn, who.namespace_id, "cat dogs") if w[0] in kept][:2]
    assert [g[0] for g in got] == [w[0] for w in want] and len(want) == 2
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-9)


def test_postings_are_read_from_the_index_alone(seeded) -> None:
    conn, who, _, _ = seeded
    conn.execute("VACUUM chunk_terms")
    conn.execute("SET enable_seqscan = off")  # a 7-row table would rather be scanned
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN SELECT chunk_id, tf, dl FROM chunk_terms WHERE namespace_id = %s AND lexeme IN ('cat', 'mat')",
        (who.namespace_id,)))
    assert "Index Only Scan" in plan, plan
