"""Document-level BM25 (BM25F over title and body) combined with passage matches, in PostgreSQL.

A document is scored as a whole from the document_terms index (migration 0013), its title a field
of its own weighted by `title_weight` (BM25F: tf = tf_body + w * tf_title, length = dl + w * tl,
average length likewise), with document statistics (N documents, their average length):

    doc(d) = sum over query terms t in d of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))

Each chunk of the best `pool` documents then gets a passage score, BM25 over the chunk (its own tf
and length, the chunks' average length, the same document idf: the postings are counted once), and

    chunk(c) = doc(d(c)) + passage_weight * passage(c)

so a chunk ranks with its document's evidence, and between chunks of one document by its own.
A document is represented by its best chunk. Work per query grows with the query terms' postings in
document_terms (counted, then scored) and the best documents' postings in chunk_terms (one index
range per document and term, migration 0019), never with the namespace. Documents are expanded in
two steps. The best n / 2 (at least `head`: head_size) first; the n-th best score among their chunks
(or the n-th document's score, if higher: the n best documents' best chunks score at least that) is
a bar the final n-th result cannot fall below. Of the rest of the `pool`, only a document whose score
plus the largest passage bonus any chunk could have (passage_weight * (passage_k1 + 1) * the query
terms' idf: each term's part of a passage is below idf * (k1 + 1)) reaches the bar is expanded; the
others cannot place a chunk in the top n. Only chunks with a passage score, and each document's first
chunk (its representative when none matches), are ranked.
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
    pool: int = 200  # documents whose chunks get a passage score, at most
    head: int = 10  # at least this many of the best documents are expanded first (see head_size)
    max_terms: int = 32  # a longer query is scored on its rarest this many lexemes (see query_terms)
    scan_max: int = 10_000  # a namespace of at most this many chunks reads all the terms' postings once


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


def query_terms(terms: Mapping[str, int], n: int, p: DocParams = DOC_PARAMS) -> set[str]:
    """The lexemes a query is scored on: of those in the namespace (`terms`: lexeme -> document
    frequency), the `max_terms` rarest (ties by lexeme). Work grows with the terms: a query of
    10,000 characters has ~600-800 distinct lexemes, and probing each best document for each took
    0.15-0.7 s (23 ms capped at 32). The rarest carry most of BM25's weight (idf falls with
    frequency); no NFCorpus or LoCoMo question has more than 18."""
    present = sorted((t for t, df in terms.items() if df > 0), key=lambda t: (-idf(n, terms[t]), t))
    return set(present[: p.max_terms])


def head_size(p: DocParams, n: int) -> int:
    """Documents expanded first: their chunks set the bar the rest must clear. About n / 2: enough for
    n matching chunks at two a document, so the bar is rarely the n-th document's own score (which lets
    most of the pool through); more costs a key probe per document and term for nothing. On NFCorpus
    (~4 chunks a document) 10 expanded 2.7 ms a query against 2.0 for 25; at 100k chunks of long
    modules 10 and 25 both cut 17 ms to 4-5."""
    return max(p.head, n // 2)


def params_of(p: DocParams, n: int) -> dict[str, Any]:
    """The statement's parameters for the top `n`: the pool holds at least n documents."""
    return {"k1": p.k1, "b": p.b, "wt": p.title_weight, "pk1": p.passage_k1, "pb": p.passage_b,
            "pw": p.passage_weight, "pool": max(p.pool, n), "head": head_size(p, n), "max_terms": p.max_terms,
            "scan_max": p.scan_max, "n": n}


# Candidate chunks of the best documents: (chunk_id, document_id, doc_score, passage, best), best = the
# chunk is its document's best passage (a first chunk without a match may appear twice, once with its
# passage: the copy scored 0 is never best and never passes `passage > 0`). {doc_filter}: documents with
# a chunk that passes the filters; {filter_join} and {chunk_cond}: the filters on the chunk itself (all
# empty without filters). A document's postings of a term are one range of chunk_terms' key
# (namespace, lexeme, document, chunk: migration 0019), so passages cost the best documents' postings.
CANDIDATES_SQL = """
WITH q AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('english', %(query)s)) AS t),
st AS (SELECT documents::float8 AS n, greatest(body_terms::float8 / nullif(documents, 0), 1) AS avgdl,
              coalesce(title_terms::float8 / nullif(documents, 0), 0) AS avgtl,
              greatest(total_terms::float8 / nullif(chunks, 0), 1) AS avgcl, chunks
       FROM namespace_stats WHERE namespace_id = %(ns)s),
w AS MATERIALIZED (
    SELECT q.lexeme, ln(1 + (st.n - d.df + 0.5) / (d.df + 0.5)) AS idf FROM q CROSS JOIN st
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM document_terms dt
                        WHERE dt.namespace_id = %(ns)s AND dt.lexeme = q.lexeme) d
    WHERE d.df > 0 ORDER BY idf DESC, q.lexeme COLLATE "C" LIMIT %(max_terms)s),
docs AS (
    SELECT dt.document_id, sum(w.idf * (dt.tf + %(wt)s * dt.ttf) * (%(k1)s + 1)
               / ((dt.tf + %(wt)s * dt.ttf) + %(k1)s * (1 - %(b)s + %(b)s * (dt.dl + %(wt)s * dt.tl)
                                                          / (st.avgdl + %(wt)s * st.avgtl)))) AS score
    FROM w JOIN document_terms dt ON dt.namespace_id = %(ns)s AND dt.lexeme = w.lexeme CROSS JOIN st
    GROUP BY dt.document_id),
top_docs AS MATERIALIZED (
    SELECT d.document_id, d.score, row_number() OVER (ORDER BY d.score DESC, d.document_id) AS r
    FROM docs d WHERE d.score > 0{doc_filter} ORDER BY d.score DESC, d.document_id LIMIT %(pool)s),
head AS MATERIALIZED (SELECT t.document_id, t.score FROM top_docs t WHERE t.r <= %(head)s),
head_passages AS MATERIALIZED ({head_passages}),
bar AS (SELECT greatest(
    (SELECT t.score FROM top_docs t WHERE t.r = greatest(%(n)s, 1)),
    (SELECT h.doc_score + %(pw)s * h.passage AS s FROM {head_results} h ORDER BY s DESC OFFSET greatest(%(n)s, 1) - 1 LIMIT 1)
    ) AS score),
tail AS MATERIALIZED (
    SELECT t.document_id, t.score FROM top_docs t WHERE t.r > %(head)s
      AND (%(pw)s < 0 OR t.score + %(pw)s * (%(pk1)s + 1) * (SELECT coalesce(sum(w.idf), 0) FROM w) + 1e-9
                         >= coalesce((SELECT bar.score FROM bar), 0))),
small AS MATERIALIZED (SELECT coalesce((SELECT st.chunks FROM st), 0) <= %(scan_max)s AS yes),
-- a small namespace: every posting of the terms scored once per chunk, then the chunks of the documents
-- the measured largest passage bonus lets through (few postings: one pass costs less than the probes)
post AS MATERIALIZED (
    SELECT ct.chunk_id, sum({part}) AS passage
    FROM w CROSS JOIN LATERAL (SELECT ct.chunk_id, ct.tf, ct.dl FROM chunk_terms ct
                               WHERE ct.namespace_id = %(ns)s AND ct.lexeme = w.lexeme OFFSET 0) ct
    CROSS JOIN st GROUP BY ct.chunk_id),
pc AS MATERIALIZED (
    SELECT c.id AS chunk_id, t.document_id, t.score AS doc_score FROM top_docs t JOIN chunks c ON c.document_id = t.document_id{chunk_cond}
    WHERE %(pw)s < 0 OR t.score + %(pw)s * coalesce((SELECT max(passage) FROM post), 0) + 1e-9
          >= coalesce((SELECT x.score FROM top_docs x WHERE x.r = greatest(%(n)s, 1)), 0)),
passages AS (
    SELECT * FROM head_passages WHERE NOT (SELECT yes FROM small)
    UNION ALL SELECT * FROM ({tail_passages}) x WHERE NOT (SELECT yes FROM small)
    UNION ALL
    SELECT f.id, p.document_id, p.score, 0 FROM (SELECT * FROM head UNION ALL SELECT * FROM tail) p
    CROSS JOIN LATERAL (SELECT c.id FROM chunks c WHERE c.document_id = p.document_id{chunk_cond} ORDER BY c.id LIMIT 1) f
    WHERE NOT (SELECT yes FROM small)
    UNION ALL
    SELECT pc.chunk_id, pc.document_id, pc.doc_score, pm.passage FROM pc JOIN post pm ON pm.chunk_id = pc.chunk_id
    WHERE (SELECT yes FROM small)
    UNION ALL
    SELECT min(pc.chunk_id), pc.document_id, min(pc.doc_score), 0 FROM pc WHERE (SELECT yes FROM small) GROUP BY pc.document_id),
ranked AS (
    SELECT x.*, x.doc_score + %(pw)s * x.passage AS score,
           row_number() OVER (PARTITION BY x.document_id ORDER BY x.passage DESC, x.chunk_id) = 1 AS best
    FROM passages x)
"""

# The head documents' best passages, for the bar when results are documents.
HEAD_DOCUMENTS = "(SELECT min(doc_score) AS doc_score, max(passage) AS passage FROM head_passages GROUP BY document_id)"

# The chunks of the documents in {pool} that match a query term, with their passage scores. LATERAL:
# one probe of chunk_terms' key per (document, term) whatever the planner believes about the tables'
# sizes. With a plain join and statistics not yet gathered (a new database, a namespace just loaded)
# it chose a scan of each document's postings of every term, ~100 ms a query for 400 documents.
PASSAGES_SQL = """
    SELECT ct.chunk_id, p.document_id, min(p.score) AS doc_score, sum({part}) AS passage
    FROM {pool} p CROSS JOIN w
    CROSS JOIN LATERAL (SELECT ct.chunk_id, ct.tf, ct.dl FROM chunk_terms ct
                        WHERE ct.namespace_id = %(ns)s AND ct.lexeme = w.lexeme AND ct.document_id = p.document_id OFFSET 0) ct{filter_join}
    CROSS JOIN st GROUP BY ct.chunk_id, p.document_id"""


# A term's part of a chunk's passage score (BM25 over the chunk, document idf).
PART = sql.SQL("w.idf * ct.tf * (%(pk1)s + 1) / (ct.tf + %(pk1)s * (1 - %(pb)s + %(pb)s * ct.dl / st.avgcl))")


def candidates_sql(filters_cond: sql.Composable, has_filters: bool, unit: str = "chunk") -> sql.Composed:
    """`unit`: the results are chunks, or documents (one each, its best chunk: the bar counts each
    head document once)."""
    doc_filter = sql.SQL(" AND EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.document_id{cond})").format(
        cond=filters_cond) if has_filters else sql.SQL("")
    filter_join = sql.SQL(" JOIN chunks c ON c.id = ct.chunk_id{cond}").format(
        cond=filters_cond) if has_filters else sql.SQL("")

    def passages(pool: str) -> sql.Composed:
        return sql.SQL(PASSAGES_SQL.strip()).format(pool=sql.Identifier(pool), filter_join=filter_join, part=PART)

    return sql.SQL(CANDIDATES_SQL.strip()).format(
        doc_filter=doc_filter, chunk_cond=filters_cond, head_passages=passages("head"), tail_passages=passages("tail"),
        part=PART,
        head_results=sql.SQL(HEAD_DOCUMENTS if unit == "document" else "head_passages"))
