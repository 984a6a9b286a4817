"""Document-level BM25 (BM25F over title and body) combined with passage matches, in PostgreSQL.

A document is scored as a whole from the document_terms index (migration 0013), its title a field
of its own weighted by `title_weight` (BM25F: tf = tf_body + w * tf_title, length = dl + w * tl,
average length likewise), with document statistics (N documents, their average length):

    doc(d) = sum over query terms t in d of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))

Each chunk of the best `pool` documents then gets a passage score, BM25 over the chunk (its own tf
and length, the chunks' average length, the same document idf: the postings are counted once), and

    chunk(c) = doc(d(c)) + passage_weight * passage(c)

so a chunk ranks with its document's evidence, and between chunks of one document by its own.
A document is represented by its best chunk. Work per query grows with the query terms' postings
and the chunks of the best documents, never with the namespace: the postings in document_terms
(counted, then scored), the postings in chunk_terms (scored once, one row per matching chunk), and
the chunks of the pool read from an index alone (migration 0017). The pool is cut by a bound: a
document whose score plus the largest passage bonus any chunk has stays below the n-th document's
score cannot place a chunk in the top n (the n best documents' best chunks score at least their
documents' scores), so it is not expanded. Only chunks with a passage score, and each document's
first chunk (its representative when none matches), are ranked.
`score_document` and `score_passage` in Python are the reference the SQL is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from psycopg import sql

from agentmem.retrieval.bm25 import idf


@dataclass(frozen=True)
class DocParams:
    """Chosen on NFCorpus dev (docs/retrieval.md); LoCoMo (one chunk per document) checked."""

    k1: float = 0.9
    b: float = 0.4
    title_weight: float = 1.0
    passage_k1: float = 1.2
    passage_b: float = 0.75
    passage_weight: float = 0.1
    pool: int = 200  # documents whose chunks get a passage score


DOC_PARAMS = DocParams()


@dataclass(frozen=True)
class DocStats:
    n: int  # documents in the namespace
    avgdl: float  # their average body length
    avgtl: float  # their average title length
    avgcl: float  # the average chunk length


def bm25f_parts(tf: int, ttf: int, dl: int, tl: int, stats: DocStats, title_weight: float) -> tuple[float, float, float]:
    """The field-weighted (tf, length, average length)."""
    return tf + title_weight * ttf, dl + title_weight * tl, stats.avgdl + title_weight * stats.avgtl


def score_document(
    query_terms: set[str], terms: Mapping[str, tuple[int, int]], dl: int, tl: int, stats: DocStats,
    df: Mapping[str, int], p: DocParams = DOC_PARAMS,
) -> float:
    """BM25F of one document; `terms`: lexeme -> (tf in body, tf in title)."""
    total = 0.0
    for t in query_terms:
        tf, ttf = terms.get(t, (0, 0))
        if tf or ttf:
            f, length, avg = bm25f_parts(tf, ttf, dl, tl, stats, p.title_weight)
            total += idf(stats.n, df[t]) * f * (p.k1 + 1) / (f + p.k1 * (1 - p.b + p.b * length / avg))
    return total


def score_passage(query_terms: set[str], tf: Mapping[str, int], cl: int, stats: DocStats, df: Mapping[str, int],
                  p: DocParams = DOC_PARAMS) -> float:
    """BM25 of one chunk with document idf (df counted over documents)."""
    total = 0.0
    for t in query_terms:
        f = tf.get(t, 0)
        if f:
            total += idf(stats.n, df[t]) * f * (p.passage_k1 + 1) / (
                f + p.passage_k1 * (1 - p.passage_b + p.passage_b * cl / stats.avgcl))
    return total


def params_of(p: DocParams) -> dict[str, Any]:
    return {"k1": p.k1, "b": p.b, "wt": p.title_weight, "pk1": p.passage_k1, "pb": p.passage_b,
            "pw": p.passage_weight, "pool": p.pool}


# Candidate chunks of the best documents: (chunk_id, document_id, doc_score, passage, best), best = the
# chunk is its document's best passage (a first chunk without a match may appear twice, once with its
# passage: the copy scored 0 is never best and never passes `passage > 0`). {doc_filter}: documents with a chunk that passes
# the filters; {chunk_cond}: the filters on the chunk itself (both empty without filters).
CANDIDATES_SQL = """
WITH q AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('english', %(query)s)) AS t),
st AS (SELECT documents::float8 AS n, greatest(body_terms::float8 / nullif(documents, 0), 1) AS avgdl,
              coalesce(title_terms::float8 / nullif(documents, 0), 0) AS avgtl,
              greatest(total_terms::float8 / nullif(chunks, 0), 1) AS avgcl
       FROM namespace_stats WHERE namespace_id = %(ns)s),
w AS MATERIALIZED (
    SELECT q.lexeme, ln(1 + (st.n - d.df + 0.5) / (d.df + 0.5)) AS idf FROM q CROSS JOIN st
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM document_terms dt
                        WHERE dt.namespace_id = %(ns)s AND dt.lexeme = q.lexeme) d
    WHERE d.df > 0),
docs AS (
    SELECT dt.document_id, sum(w.idf * (dt.tf + %(wt)s * dt.ttf) * (%(k1)s + 1)
               / ((dt.tf + %(wt)s * dt.ttf) + %(k1)s * (1 - %(b)s + %(b)s * (dt.dl + %(wt)s * dt.tl)
                                                          / (st.avgdl + %(wt)s * st.avgtl)))) AS score
    FROM w JOIN document_terms dt ON dt.namespace_id = %(ns)s AND dt.lexeme = w.lexeme CROSS JOIN st
    GROUP BY dt.document_id),
post AS MATERIALIZED (
    SELECT ct.chunk_id, sum(w.idf * ct.tf * (%(pk1)s + 1) / (ct.tf + %(pk1)s * (1 - %(pb)s + %(pb)s * ct.dl / st.avgcl))) AS passage
    FROM w JOIN chunk_terms ct ON ct.namespace_id = %(ns)s AND ct.lexeme = w.lexeme CROSS JOIN st GROUP BY ct.chunk_id),
top_docs AS MATERIALIZED (
    SELECT d.document_id, d.score FROM docs d WHERE d.score > 0{doc_filter} ORDER BY d.score DESC, d.document_id LIMIT %(pool)s),
pool AS MATERIALIZED (
    SELECT t.document_id, t.score FROM top_docs t
    WHERE %(pw)s < 0 OR t.score + %(pw)s * coalesce((SELECT max(passage) FROM post), 0) + 1e-9
          >= coalesce((SELECT x.score FROM top_docs x ORDER BY x.score DESC, x.document_id OFFSET greatest(%(n)s, 1) - 1 LIMIT 1), 0)),
pc AS MATERIALIZED (
    SELECT c.id AS chunk_id, p.document_id, p.score AS doc_score
    FROM pool p JOIN chunks c ON c.document_id = p.document_id{chunk_cond}),
passages AS (
    SELECT pc.chunk_id, pc.document_id, pc.doc_score, pm.passage FROM pc JOIN post pm ON pm.chunk_id = pc.chunk_id
    UNION ALL
    SELECT min(pc.chunk_id), pc.document_id, min(pc.doc_score), 0 FROM pc GROUP BY pc.document_id),
ranked AS (
    SELECT x.*, x.doc_score + %(pw)s * x.passage AS score,
           row_number() OVER (PARTITION BY x.document_id ORDER BY x.passage DESC, x.chunk_id) = 1 AS best
    FROM passages x)
"""


def candidates_sql(filters_cond: sql.Composable, has_filters: bool) -> sql.Composed:
    doc_filter = sql.SQL(" AND EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.document_id{cond})").format(
        cond=filters_cond) if has_filters else sql.SQL("")
    return sql.SQL(CANDIDATES_SQL.strip()).format(doc_filter=doc_filter, chunk_cond=filters_cond)
