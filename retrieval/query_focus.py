"""The text the vector side embeds: the query without the words (nearly) every document of the namespace has.

A word in almost every document cannot tell documents apart, and BM25 already gives it no weight
(its idf is ~0). A dense query vector has no idf: such a word still pulls the query toward what all
documents share and away from what the question is about. In a chat history every turn carries the
speakers' names (LoCoMo: "Caroline: ..."), so "What did Caroline research?" is embedded mostly as
"Caroline"; without the name MiniLM finds the evidence turn in its top 10 for 12 points more of
the questions (docs/retrieval.md, "Words every document has"). A knowledge base whose every page names
its product is the same case.

Which words are common is read from a bounded sample, the documents of the namespace's latest
SAMPLE_CHUNKS chunks, so the cost does not grow with the namespace: one index range of chunks and one
key probe per (sampled document, query term) in document_terms. A word counts as common when it is in
at least COMMON_SHARE of the sampled documents, and only once there are MIN_DOCUMENTS of them (a
handful of documents that all mention the subject are not yet a namespace whose every document
does). A query made only of common words is embedded as written.

The service keeps each word's answer per namespace for CACHE_SECONDS in the process (`word_cache`): a
query whose words were all asked about recently costs no statement. A word that becomes common (or stops
being common) is seen as such up to that long after; only the text embedded depends on it.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from agentmem.core.recent import RecentCache

COMMON_SHARE = 0.9
SAMPLE_CHUNKS = 300
MIN_DOCUMENTS = 50
MAX_WORDS = 32
# A word's answer is kept this long per process: on a chat namespace the lookup is ~2 ms of every query's
# path before its embedding (docs/retrieval.md), and which words are common moves with many writes, not one.
CACHE_SECONDS = 60.0
CACHE_WORDS = 50_000  # (namespace, word) answers at most: ~10 MB, whatever words tenants send
CACHE_WORD_CHARS = 40  # a longer word is asked about each time: 50,000 words of 10,000 characters would be 500 MB
COMMON, DISTINCT, STOP = "common", "distinct", "stop"  # STOP: no lexeme (a stop word): never left out
WordCache = RecentCache[tuple[int, str], str]

_WORD = re.compile(r"\w+(?:['’]\w+)*")  # "Caroline's", "don't": one word each

# Each query word that has a lexeme (PostgreSQL drops stop words: they have none and are always kept,
# being part of how the question reads), and whether every lexeme of it is common in the sample.
COMMON_WORDS_SQL = """
WITH words AS MATERIALIZED (  -- each query word with its lexemes, analysed once
    SELECT w.word, t.lexeme FROM unnest(%(words)s::text[]) AS w(word),
                                 unnest(to_tsvector('english', w.word)) AS t),
sample AS MATERIALIZED (
    SELECT DISTINCT c.document_id FROM (
        -- a range on namespace_id, ordered by (namespace_id, id): only chunks_namespace_order gives that
        -- order, so the planner never walks the whole table's primary key backwards past other tenants'
        -- newer chunks (which it did with `= ns ORDER BY id` for a namespace that holds most rows)
        SELECT document_id FROM chunks WHERE namespace_id BETWEEN %(ns)s AND %(ns)s
        ORDER BY namespace_id DESC, id DESC LIMIT %(sample)s) c),
size AS (SELECT count(*) AS n FROM sample),
common AS (
    SELECT l.lexeme FROM (SELECT DISTINCT lexeme FROM words) l, size
    WHERE size.n >= %(min_docs)s
      AND (SELECT count(*) FROM sample s CROSS JOIN LATERAL (  -- one key probe per sampled document
               SELECT 1 FROM document_terms dt
               WHERE dt.namespace_id = %(ns)s AND dt.lexeme = l.lexeme AND dt.document_id = s.document_id LIMIT 1) x)
          >= %(share)s * size.n)
SELECT word, bool_and(lexeme IN (SELECT lexeme FROM common)) AS common FROM words GROUP BY word
"""


def words_of(query: str) -> list[str]:
    """The query's distinct words, the first MAX_WORDS of them: the check costs a key probe per sampled
    document and word, and a long query (up to 10,000 characters) must not cost seconds for it."""
    return list(dict.fromkeys(_WORD.findall(query)))[:MAX_WORDS]


def without_words(query: str, words: set[str]) -> str:
    """`query` with every occurrence of `words` (whole words) removed and spaces tidied; the query
    itself when nothing of it would be left."""
    if not words:
        return query
    kept = _WORD.sub(lambda m: "" if m.group(0) in words else m.group(0), query)
    kept = re.sub(r"\s+([?!.,;:])", r"\1", re.sub(r"\s+", " ", kept)).strip()
    return kept if _WORD.search(kept) else query


def focused_query(conn: psycopg.Connection[Any], namespace_id: int, query: str,
                  known: WordCache | None = None) -> str:
    """The text to embed for `query` in this namespace (see the module's docstring). With `known` (the
    process's word cache), only words it does not hold are looked up, and none when it holds them all."""
    words = words_of(query)
    if not words:
        return query
    kinds = {w: known.get((namespace_id, w)) for w in words} if known is not None else {}
    missing = [w for w in words if kinds.get(w) is None]
    if missing:
        # Never a prepared statement: its generic plan (no values to estimate from) took 60-1,000 ms at 100k
        # chunks where each call's own plan takes ~1-3 ms to make and ~1 ms to run.
        rows = conn.execute(COMMON_WORDS_SQL, {"ns": namespace_id, "sample": SAMPLE_CHUNKS, "min_docs": MIN_DOCUMENTS,
                                               "share": COMMON_SHARE, "words": missing}, prepare=False).fetchall()
        found = {word: COMMON if is_common else DISTINCT for word, is_common in rows}
        for w in missing:
            kinds[w] = found.get(w, STOP)
            if known is not None and len(w) <= CACHE_WORD_CHARS:
                known.put((namespace_id, w), kinds[w])
    common = {w for w in words if kinds[w] == COMMON}
    if len(common) == sum(kinds[w] != STOP for w in words):  # no word of substance would be left (or none is common)
        return query
    return without_words(query, common)


def word_cache() -> WordCache:
    """A process's memory of which words are common where (CACHE_WORDS words, CACHE_SECONDS each)."""
    return RecentCache(CACHE_WORDS, CACHE_SECONDS)
