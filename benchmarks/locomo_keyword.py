"""LoCoMo keyword recall@k: the chunk-only BM25 (bm25.KEYWORD_SQL) against the document-aware
keyword retriever (doc_bm25), on the same namespaces, without a model.

The turns are ingested as the locomo benchmark ingests them (one document per turn, the preceding
turn as context) with constant vectors, since only the keyword list is compared; the locomo
benchmark itself measures hybrid and assembly through HTTP.
Run: `python -m benchmarks.locomo_keyword --database-url URL --conversations 0-4 [--ingest]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from typing import Sequence

import psycopg
from pgvector.psycopg import register_vector

from agentmem.retrieval import bm25
from agentmem.retrieval.search import keyword_hits
from benchmarks.corpus import load_locomo
from benchmarks.locomo import _dia_of, conversation_turns, questions, turn_context
from benchmarks.nfcorpus_tune import KeywordOnlyEmbedder, parse_set

KS = (5, 10, 20)


def ingest(conn: psycopg.Connection, conv: dict, name: str) -> int:
    from agentmem.core.settings import Settings
    from agentmem.embeddings.registry import Embedders
    from agentmem.memory.documents import DocumentInput, upsert_documents
    from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key

    create_namespace(conn, name)
    who = resolve_key(conn, issue_key(conn, name, "tune").key)
    turns = conversation_turns(conv)
    docs = [DocumentInput(f"locomo:{conv['sample_id']}/{t.dia_id}", t.text, context=turn_context(turns, i))
            for i, t in enumerate(turns)]
    upsert_documents(conn, Embedders.of(KeywordOnlyEmbedder()), who, docs, Settings().chunk_tokens)
    return who.namespace_id


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.locomo_keyword", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--locomo", default=None)
    p.add_argument("--conversations", default="0-4", help="a range of conversation indexes, e.g. 0-4")
    p.add_argument("--ingest", action="store_true")
    p.add_argument("--set", action="append", default=[], help="DocParams overrides (as nfcorpus_tune)")
    args = p.parse_args(list(argv or []))
    lo, hi = (int(x) for x in args.conversations.split("-"))
    data = load_locomo(args.locomo)[lo : hi + 1]
    variants = {"chunk BM25 (before)": None} | {f"doc-aware {s or 'defaults'}": parse_set(s) for s in args.set or [""]}
    recall: dict[str, dict[int, list[float]]] = {v: defaultdict(list) for v in variants}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        register_vector(conn)
        for conv in data:
            name = f"locomo-kw-{conv['sample_id']}"
            ns = ingest(conn, conv, name) if args.ingest else conn.execute(
                "SELECT id FROM namespaces WHERE name = %s", (name,)).fetchone()[0]
            known = {t.dia_id for t in conversation_turns(conv)}
            for q in questions(conv, known, defaultdict(int)):
                for v, params in variants.items():
                    if params is None:
                        rows = conn.execute(bm25.KEYWORD_SQL + " SELECT d.source_uri FROM scored s JOIN chunks c"
                                            " ON c.id = s.chunk_id JOIN documents d ON d.id = c.document_id"
                                            " ORDER BY s.score DESC, s.chunk_id LIMIT 20",
                                            {"ns": ns, "query": q.question, "k1": bm25.K1, "b": bm25.B}).fetchall()
                        found = [_dia_of(r[0]) for r in rows]
                    else:
                        found = [_dia_of(h.source_uri) for h in keyword_hits(conn, ns, q.question, 20, params=params)]
                    for k in KS:
                        recall[v][k].append(len(q.evidence & set(found[:k])) / len(q.evidence))
    n = len(next(iter(recall.values()))[KS[0]])
    print(f"LoCoMo conversations {args.conversations}: {n} questions, keyword evidence recall@k")
    for v, by_k in recall.items():
        print(f"{v:<60}" + "".join(f"  @{k} {statistics.fmean(by_k[k]):.4f}" for k in KS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
