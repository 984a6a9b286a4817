"""Text analysis study on NFCorpus: how stemming and stop words move whole-document BM25.

Each configuration tokenises title + text (one field, as Lucene's BEIR indexes do) with PostgreSQL's
text search (`english`: snowball stemmer and PostgreSQL's 127 stop words; `english_nostop`: the same
stemmer, no stop words; `lucene_stop`: the same stemmer, only Lucene's 33 English stop words;
`simple`: no stemming, no stop words; `english_porter`: the original Porter stemmer, which PostgreSQL's
snowball template also carries, with PostgreSQL's stop words; `porter_lucene_stop`: Porter and Lucene's
33 stop words, i.e. the analysis of Lucene's EnglishAnalyzer and Anserini's BEIR runs), then scores the split's queries with BM25 in Python
(bm25.score). No HTTP and no service tables: it only needs a PostgreSQL (the study creates one
text search dictionary and configuration in it). Tune on dev only.
Run: `python -m benchmarks.nfcorpus_analysis --database-url URL [--split dev] [--k1 0.9 --b 0.4]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import psycopg

from agentmem.retrieval import bm25
from benchmarks.nfcorpus import DEFAULT_DATA, ndcg_at, read_jsonl, read_qrels, recall_at

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET.
LUCENE_STOP = ("a an and are as at be but by for if in into is it no not of on or such that the their then there"
               " these they this to was will with").split()
SETUP = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'english_stem_nostop') THEN
        CREATE TEXT SEARCH DICTIONARY english_stem_nostop (TEMPLATE = snowball, Language = english);
        CREATE TEXT SEARCH CONFIGURATION english_nostop (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION english_nostop ALTER MAPPING
            FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH english_stem_nostop;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_ts_dict WHERE dictname = 'porter_stem') THEN
        CREATE TEXT SEARCH DICTIONARY porter_stem (TEMPLATE = snowball, Language = porter, StopWords = english);
        CREATE TEXT SEARCH CONFIGURATION english_porter (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION english_porter ALTER MAPPING
            FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH porter_stem;
        CREATE TEXT SEARCH DICTIONARY porter_stem_nostop (TEMPLATE = snowball, Language = porter);
        CREATE TEXT SEARCH CONFIGURATION porter_nostop (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION porter_nostop ALTER MAPPING
            FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH porter_stem_nostop;
    END IF;
END $$;
"""


def lexemes(conn: psycopg.Connection, config: str, texts: list[str]) -> list[dict[str, int]]:
    rows = conn.execute("SELECT t.i, u.lexeme, coalesce(array_length(u.positions, 1), 1)"
                        " FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS t(x, i),"
                        " unnest(to_tsvector(%(config)s::regconfig, t.x)) AS u",
                        {"texts": texts, "config": config}).fetchall()
    out: list[dict[str, int]] = [{} for _ in texts]
    for i, lexeme, tf in rows:
        out[i - 1][lexeme] = tf
    return out


def evaluate(docs: list[dict[str, int]], ids: list[str], queries: list[dict[str, int]], qids: list[str],
             qrels: dict, k1: float, b: float) -> tuple[float, float]:
    n = len(docs)
    lengths = [sum(d.values()) for d in docs]
    avgdl = sum(lengths) / n
    postings: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(docs):
        for t in d:
            postings[t].append(i)
    nd, rc = [], []
    for qid, q in zip(qids, queries):
        terms = {t for t in q if t in postings}
        df = {t: len(postings[t]) for t in terms}
        cands = {i for t in terms for i in postings[t]}
        scored = sorted(((bm25.score(terms, docs[i], lengths[i], n, avgdl, df, k1, b), ids[i]) for i in cands),
                        key=lambda s: (-s[0], s[1]))
        ranking = [s[1] for s in scored[:100]]
        nd.append(ndcg_at(ranking, qrels[qid]))
        rc.append(recall_at(ranking, qrels[qid]))
    return statistics.fmean(nd), statistics.fmean(rc)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nfcorpus_analysis", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--split", choices=("dev", "test"), default="dev")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    args = p.parse_args(list(argv or []))
    corpus = list(read_jsonl(args.data / "corpus.jsonl"))
    qrels = read_qrels(args.data / "qrels" / f"{args.split}.tsv")
    texts = {q["_id"]: q["text"] for q in read_jsonl(args.data / "queries.jsonl")}
    qids = sorted(qrels)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(SETUP)
        for config in ("english", "english_porter", "porter_lucene_stop", "english_nostop", "lucene_stop", "simple"):
            source = {"lucene_stop": "english_nostop", "porter_lucene_stop": "porter_nostop"}.get(config, config)
            docs = lexemes(conn, source, [f"{d['title']} {d['text']}" for d in corpus])
            queries = lexemes(conn, source, [texts[q] for q in qids])
            if config.endswith("lucene_stop"):
                stop = set(lexemes(conn, source, [" ".join(LUCENE_STOP)])[0])
                docs = [{t: f for t, f in d.items() if t not in stop} for d in docs]
                queries = [{t: f for t, f in q.items() if t not in stop} for q in queries]
            nd, rc = evaluate(docs, [d["_id"] for d in corpus], queries, qids, qrels, args.k1, args.b)
            print(f"{args.split} {config:<16} k1={args.k1} b={args.b}  nDCG@10 {nd:.4f}  R@100 {rc:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
