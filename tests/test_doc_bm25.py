"""Document-level BM25F plus passage BM25 in SQL against the Python reference, across writes."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterator

import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from hash_embedder import HashEmbedder
from agentmem.core.migrate import available_migrations, migrate
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, delete_document, upsert_documents
from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key
from agentmem.retrieval import doc_bm25
from agentmem.retrieval.doc_bm25 import DocParams, DocStats
from agentmem.retrieval.filters import Filters, where
from agentmem.retrieval.search import keyword_hits

_LEXEME = re.compile(r"'((?:[^']|'')+)':([\d,A-D]+)")
LONG = " ".join(f"Sentence {i} is about mats, cats and the weather in spring." for i in range(30))
DOCS = [
    DocumentInput("d0", LONG + " Finally dogs appear once.", title="Cats and mats"),
    DocumentInput("d1", "Dogs chase cats; cats climb trees to escape dogs.", title="Dogs"),
    DocumentInput("d2", "A database stores rows in tables and indexes them.", title="Databases and dogs"),
    DocumentInput("d3", "The mat was red, and the cat liked the red mat very much.", context="A story about a cat"),
    DocumentInput("d4", LONG.replace("cats", "birds"), title=None),
]
PARAMS = [doc_bm25.DOC_PARAMS, DocParams(k1=1.2, b=0.75, title_weight=3.0, passage_weight=0.5),
          DocParams(title_weight=0.0, passage_weight=0.0)]


def _tsv(conn: psycopg.Connection[Any], text: str | None) -> dict[str, int]:
    raw = conn.execute("SELECT to_tsvector('english', %s)::text", (text or "",)).fetchone()[0]
    return {m.group(1).replace("''", "'"): len(m.group(2).split(",")) for m in _LEXEME.finditer(raw)}


def _reference(conn: psycopg.Connection[Any], ns: int, query: str, p: DocParams, unit: str,
               keep: set[Any] | None = None) -> list[tuple[int, float]]:
    """Every chunk scored in Python; `keep`: the documents whose chunks pass a filter (None: all)."""
    docs = conn.execute("SELECT id, title, context, text FROM documents WHERE namespace_id = %s", (ns,)).fetchall()
    body = {d: _tsv(conn, (c + " " if c else "") + t) for d, _, c, t in docs}
    head = {d: _tsv(conn, title) for d, title, _, _ in docs}
    chunks = conn.execute("SELECT c.id, c.document_id, c.context, c.text FROM chunks c JOIN documents d"
                          " ON d.id = c.document_id WHERE c.namespace_id = %s", (ns,)).fetchall()
    ctf = {c: _tsv(conn, (ctx + " " if ctx else "") + t) for c, _, ctx, t in chunks}
    stats = DocStats(n=len(docs), avgdl=max(sum(sum(b.values()) for b in body.values()) / len(docs), 1),
                     avgtl=sum(sum(h.values()) for h in head.values()) / len(docs),
                     avgcl=max(sum(sum(t.values()) for t in ctf.values()) / len(chunks), 1))
    every = {t: sum(1 for d in body if t in body[d] or t in head[d]) for t in _tsv(conn, query)}
    terms = doc_bm25.query_terms(every, len(docs), p)
    df = {t: every[t] for t in terms}
    dscore = {d: doc_bm25.score_document(terms, {t: (body[d].get(t, 0), head[d].get(t, 0)) for t in terms},
                                         sum(body[d].values()), sum(head[d].values()), stats, df, p) for d in body}
    rows = []
    for c, d, _, _ in chunks:
        if dscore[d] > 0 and (keep is None or d in keep):
            passage = doc_bm25.score_passage(terms, ctf[c], sum(ctf[c].values()), stats, df, p)
            rows.append((c, d, passage, dscore[d] + p.passage_weight * passage))
    best = {}
    for c, d, passage, _ in sorted(rows, key=lambda r: (-r[2], r[0])):
        best.setdefault(d, c)
    keep = [(c, s) for c, d, passage, s in rows if best[d] == c or (unit == "chunk" and passage > 0)]
    return sorted(keep, key=lambda r: (-r[1], r[0]))


@pytest.fixture
def seeded(fresh_db: str):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, "a")
        create_namespace(conn, "b")
        who = resolve_key(conn, issue_key(conn, "a", "k").key)
        other = resolve_key(conn, issue_key(conn, "b", "k").key)
        emb = Embedders.of(HashEmbedder())
        results = upsert_documents(conn, emb, who, DOCS, 64)
        upsert_documents(conn, emb, other, [DocumentInput("x", "cat cat cat mat mat dogs " * 20, title="cat")], 64)
        yield conn, who, results, emb


def _check(conn: psycopg.Connection[Any], ns: int, query: str, p: DocParams, unit: str, n: int = 50,
           filters: Filters = Filters(), keep: set[Any] | None = None) -> None:
    want = _reference(conn, ns, query, p, unit, keep)[:n]
    for path in (p, dataclasses.replace(p, scan_max=-1)):  # this small namespace's one pass, and the probes
        got = [(h.chunk_id, h.score) for h in keyword_hits(conn, ns, query, n, filters, unit=unit, params=path)]
        assert [g[0] for g in got] == [w[0] for w in want]
        assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-9)


def test_long_documents_span_several_chunks(seeded) -> None:
    conn, who, _, _ = seeded
    per_doc = conn.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM chunks WHERE namespace_id = %s"
                           " GROUP BY document_id) x", (who.namespace_id,)).fetchone()[0]
    assert per_doc > 2


@pytest.mark.parametrize("unit", ["chunk", "document"])
@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("query", ["cat on the mat", "dogs", "database dogs", "story", "spring weather", "nothing"])
def test_sql_matches_reference(seeded, query: str, p: DocParams, unit: str) -> None:
    conn, who, _, _ = seeded
    _check(conn, who.namespace_id, query, p, unit)


def test_title_alone_finds_a_document(seeded) -> None:
    conn, who, _, _ = seeded
    assert "d2" in [h.source_uri for h in keyword_hits(conn, who.namespace_id, "dogs", 5, unit="document")]
    off = dataclasses.replace(doc_bm25.DOC_PARAMS, title_weight=0.0)
    assert [h.source_uri for h in keyword_hits(conn, who.namespace_id, "dogs", 5, unit="document", params=off)] \
        == ["d1", "d0"]  # "dogs" in d2's title no longer counts


def test_one_result_per_document(seeded) -> None:
    conn, who, _, _ = seeded
    docs = [h.document_id for h in keyword_hits(conn, who.namespace_id, "cats mats weather", 10, unit="document")]
    chunks = [h.document_id for h in keyword_hits(conn, who.namespace_id, "cats mats weather", 10)]
    assert len(docs) == len(set(docs)) and len(chunks) > len(set(chunks))


def test_statistics_follow_writes_and_deletes(seeded) -> None:
    conn, who, results, emb = seeded
    delete_document(conn, who, results[0].id)
    upsert_documents(conn, emb, who, [DocumentInput("d1", "Now a short text about cats only.", title="Cats now"),
                                      DocumentInput("d5", "Brand new dogs.", title="New")], 64)
    conn.execute("UPDATE documents SET last_verified_at = now()")  # no indexed text changes
    stats = conn.execute("SELECT documents, body_terms, title_terms FROM namespace_stats WHERE namespace_id = %s",
                         (who.namespace_id,)).fetchone()
    docs = conn.execute("SELECT title, context, text FROM documents WHERE namespace_id = %s",
                        (who.namespace_id,)).fetchall()
    body = sum(sum(_tsv(conn, (c + " " if c else "") + t).values()) for _, c, t in docs)
    title = sum(sum(_tsv(conn, ti).values()) for ti, _, _ in docs)
    assert tuple(stats) == (5, body, title)
    postings = conn.execute("SELECT count(*) FROM document_terms WHERE namespace_id = %s",
                            (who.namespace_id,)).fetchone()[0]
    want = sum(len(set(_tsv(conn, (c + " " if c else "") + t)) | set(_tsv(conn, ti))) for ti, c, t in docs)
    assert postings == want
    for unit in ("chunk", "document"):
        _check(conn, who.namespace_id, "cats dogs", doc_bm25.DOC_PARAMS, unit)


def test_filters_keep_namespace_statistics(seeded) -> None:
    conn, who, _, _ = seeded
    conn.execute("UPDATE documents SET metadata = '{\"keep\": true}' WHERE source_uri IN ('d1', 'd3')")
    got = [h.source_uri for h in keyword_hits(conn, who.namespace_id, "cat dogs", 10, Filters(metadata={"keep": True}),
                                              unit="document")]
    want = [h.source_uri for h in keyword_hits(conn, who.namespace_id, "cat dogs", 10, unit="document")]
    assert got == [u for u in want if u in ("d1", "d3")] and len(got) == 2


@pytest.mark.parametrize("unit", ["chunk", "document"])
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("query", ["cat on the mat", "database dogs", "spring weather"])
def test_a_short_list_equals_the_head_of_the_full_ranking(seeded, query: str, n: int, unit: str) -> None:
    """With n below the number of matching documents the pool is cut by its bound (documents that cannot
    place a chunk in the top n are not expanded): the result must still be the reference's first n."""
    conn, who, _, _ = seeded
    _check(conn, who.namespace_id, query, DocParams(), unit, n)


@pytest.mark.parametrize("unit", ["chunk", "document"])
@pytest.mark.parametrize("head", [0, 2])
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("query", ["cat on the mat", "database dogs", "spring weather", "dogs", "mat", "red cat"])
def test_documents_expanded_in_two_steps_give_the_full_ranking(seeded, query: str, n: int, head: int, unit: str) -> None:
    """The best max(head, n // 2) documents are expanded first and set the bar; the rest only when their
    score plus the largest passage bonus possible reaches it. With none first (head 0, n 1) the bar is
    the n-th document's score. The result must be the reference's first n whichever were skipped."""
    conn, who, _, _ = seeded
    _check(conn, who.namespace_id, query, DocParams(head=head), unit, n)
    # a heavy passage weight: a lower document's short matching chunk can outrank a higher one's
    for weight in (0.5, 2.0):
        _check(conn, who.namespace_id, query, DocParams(head=head, passage_weight=weight, title_weight=0.0), unit, n)


@pytest.mark.parametrize("unit", ["chunk", "document"])
@pytest.mark.parametrize("head", [0, 1, 10])
@pytest.mark.parametrize("query", ["cat on the mat", "dogs", "spring weather"])
def test_filtered_passages_match_the_reference(seeded, query: str, head: int, unit: str) -> None:
    """Filters act on the chunks (their documents' metadata) while statistics stay the namespace's."""
    conn, who, _, _ = seeded
    conn.execute("UPDATE documents SET metadata = '{\"keep\": true}' WHERE source_uri IN ('d0', 'd1', 'd3')")
    keep = {r[0] for r in conn.execute("SELECT id FROM documents WHERE source_uri IN ('d0', 'd1', 'd3')")}
    for n in (1, 2, 50):
        _check(conn, who.namespace_id, query, DocParams(head=head), unit, n, Filters(metadata={"keep": True}), keep)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_passages_probe_each_document_and_term_even_without_statistics(fresh_db: str) -> None:
    """A new database (or a namespace just loaded) has no statistics yet: chunk_terms looks empty. With
    a plain join the planner then read each expanded document's postings of every term and filtered
    them by term (~100 ms a query at 400 documents); each read must stay a range of one term (and of one
    document, for the probes of a large namespace)."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        for table in ("chunk_terms", "document_terms", "chunks", "documents"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            conn.execute(f"ANALYZE {table}")  # empty: the planner now believes it has no rows
        create_namespace(conn, "a")
        who = resolve_key(conn, issue_key(conn, "a", "k").key)
        words = ["cat", "mat", "dog", "tree", "rain", "sun", "moon", "star"]
        docs = [DocumentInput(f"d{i}", " ".join(f"{words[(i + j) % 8]} {words[(i * j) % 8]} filler{j}" for j in range(40)))
                for i in range(60)]
        upsert_documents(conn, Embedders.of(HashEmbedder()), who, docs, 32)
        cond, fparams = where(Filters())
        values = fparams | doc_bm25.params_of(doc_bm25.DOC_PARAMS, 10) | {"ns": who.namespace_id, "query": "cat sun"}
        statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + doc_bm25.candidates_sql(cond, False) + sql.SQL(
            " SELECT count(*) FROM ranked")
        plan = conn.execute(statement, values).fetchone()[0][0]["Plan"]
        reads = [n.get("Index Cond", "") for n in _plan_nodes(plan) if n.get("Relation Name") == "chunk_terms"]
        assert all("lexeme =" in cond for cond in reads), reads  # each read is a range of one term
        assert any("document_id =" in cond for cond in reads), reads  # the probes: one document's range


def test_postings_written_before_migration_0019_rank_the_same_after_it(empty_db: str) -> None:
    """Migration 0019 rebuilds chunk_terms with each posting's document: data written before it keeps
    every posting, each under its chunk's document, ranks as the reference says, and new writes are
    indexed by the replaced trigger."""
    migrate(empty_db, [m for m in available_migrations() if m.version < 19])
    with psycopg.connect(empty_db, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, "a")
        who = resolve_key(conn, issue_key(conn, "a", "k").key)
        emb = Embedders.of(HashEmbedder())
        upsert_documents(conn, emb, who, DOCS, 64)
        before = conn.execute("SELECT count(*) FROM chunk_terms").fetchone()[0]
    assert [m.version for m in migrate(empty_db, [m for m in available_migrations() if m.version <= 19])] == [19]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        register_vector(conn)
        placed = "SELECT count(*) FROM chunk_terms ct JOIN chunks c ON c.id = ct.chunk_id AND c.document_id = ct.document_id"
        assert before > 100 and conn.execute(placed).fetchone()[0] == before
        upsert_documents(conn, emb, who, [DocumentInput("d9", "Cats sleep on a warm mat.", title="Naps")], 64)
        assert conn.execute(placed).fetchone()[0] == conn.execute("SELECT count(*) FROM chunk_terms").fetchone()[0] > before
        for query in ("cat on the mat", "dogs", "naps"):
            for unit in ("chunk", "document"):
                _check(conn, who.namespace_id, query, DocParams(), unit)


@pytest.mark.parametrize("unit", ["chunk", "document"])
def test_a_long_query_is_scored_on_its_rarest_terms(seeded, unit: str) -> None:
    """Work grows with the query's terms: beyond `max_terms` only the rarest count, in SQL as in the
    reference (and the ranking then differs from the one on every term)."""
    conn, who, _, _ = seeded
    query = "cat mat dogs trees spring weather database birds red story"
    capped = DocParams(max_terms=2)
    _check(conn, who.namespace_id, query, capped, unit)
    every = [h.chunk_id for h in keyword_hits(conn, who.namespace_id, query, 50, unit=unit)]
    assert [h.chunk_id for h in keyword_hits(conn, who.namespace_id, query, 50, unit=unit, params=capped)] != every
