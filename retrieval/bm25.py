"""BM25 over a namespace, computed inside PostgreSQL from the chunk_terms inverted index.

score(chunk) = sum over distinct query terms t present in the chunk of
    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
with N and avgdl from namespace_stats and df counted from the postings themselves, so every
statistic is exact after each write and delete (triggers maintain both tables). Terms are
PostgreSQL's 'english' lexemes (stemmed, stop words removed), on both sides.
The same formula in Python (`score`) is the reference the SQL is tested against.
"""

from __future__ import annotations

import math
from typing import Mapping

K1 = 1.2
B = 0.75


def idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def score(
    query_terms: set[str], tf: Mapping[str, int], dl: int, n: int, avgdl: float, df: Mapping[str, int],
    k1: float = K1, b: float = B,
) -> float:
    total = 0.0
    for t in query_terms:
        f = tf.get(t, 0)
        if f:
            total += idf(n, df[t]) * f * (k1 + 1) / (f + k1 * (1 - b + b * dl / avgdl))
    return total


# Candidate ids and scores; filters, when given, join the chunks table for their predicates.
# Each query term's df is counted from its postings first (an index-only count), giving its idf in a
# table of a few rows; the postings are then read again and scored against it. Reading them twice
# beats joining tens of thousands of materialized postings back to their per-term counts.
KEYWORD_SQL = """
WITH q AS (SELECT DISTINCT t.lexeme FROM unnest(to_tsvector('english', %(query)s)) AS t),
st AS (SELECT chunks::float8 AS n, greatest(total_terms::float8 / nullif(chunks, 0), 1) AS avgdl
       FROM namespace_stats WHERE namespace_id = %(ns)s),
w AS MATERIALIZED (
    SELECT q.lexeme, ln(1 + (st.n - d.df + 0.5) / (d.df + 0.5)) AS idf FROM q CROSS JOIN st
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM chunk_terms ct
                        WHERE ct.namespace_id = %(ns)s AND ct.lexeme = q.lexeme) d
    WHERE d.df > 0),
scored AS (
    SELECT ct.chunk_id, sum(w.idf * ct.tf * (%(k1)s + 1)
               / (ct.tf + %(k1)s * (1 - %(b)s + %(b)s * ct.dl / st.avgdl))) AS score
    FROM w JOIN chunk_terms ct ON ct.namespace_id = %(ns)s AND ct.lexeme = w.lexeme CROSS JOIN st
    GROUP BY ct.chunk_id)
"""
