"""Dump each query's keyword and vector candidate lists, for offline fusion sweeps (fusion_sweep.py).

Reads namespaces that `python -m benchmarks nfcorpus` / `locomo` ingested into `--database-url`
(with MiniLM) and calls the retrievers' SQL directly: keyword_hits (chunk and document unit) and an
exact vector scan of the focused query (retrieval/query_focus.py, as the service embeds it), each
`--depth` deep (vectors 3x, for the document aggregation). Per query it
keeps (chunk id, document key, raw score) in retriever order and the relevance judgements, so a
sweep can replay any fusion without the database. Tuning splits only: NFCorpus dev, LoCoMo 0-4.
Run: `python -m benchmarks.fusion_dump --database-url URL --corpus nfcorpus --split dev`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from pgvector.psycopg import register_vector

from agentmem.core.settings import Settings
from agentmem.embeddings.catalog import service_embedders
from agentmem.retrieval.query_focus import focused_query
from agentmem.retrieval.search import QueryVector, active_model_and_size, keyword_hits, vector_hits
from benchmarks.corpus import load_locomo
from benchmarks.locomo import conversation_turns, questions, select_conversations
from benchmarks.nfcorpus import DEFAULT_DATA, read_jsonl, read_qrels

UNIT_DEPTH = 3


def lists_for(conn: psycopg.Connection, ns: int, embed: Any, text: str, depth: int) -> dict[str, Any]:
    model, _ = active_model_and_size(conn, ns, None)  # type: ignore[arg-type]
    # the vector side embeds what the service embeds: the query without the namespace's common words
    qv = QueryVector(model, embed(focused_query(conn, ns, text)))
    def rows(hits: list[Any]) -> list[list[Any]]:
        return [[h.chunk_id, h.source_uri, round(float(h.score), 6)] for h in hits]
    return {"keyword": rows(keyword_hits(conn, ns, text, depth)),
            "keyword_doc": rows(keyword_hits(conn, ns, text, depth, unit="document")),
            "vector": rows(vector_hits(conn, ns, qv, depth * UNIT_DEPTH, exact=True))}


def namespace_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM namespaces WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise SystemExit(f"namespace {name!r} not found: ingest it with the benchmark first")
    return int(row[0])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fusion_dump", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--corpus", choices=("nfcorpus", "locomo"), required=True)
    p.add_argument("--split", default="dev", help="nfcorpus: dev (test only to check, never to tune)")
    p.add_argument("--conversations", default="0-4", help="locomo: selection as in the locomo benchmark")
    p.add_argument("--namespace", default="nfcorpus", help="nfcorpus: the namespace the benchmark ingested")
    p.add_argument("--depth", type=int, default=200)
    p.add_argument("--out", type=Path, required=True, help="gzipped JSON")
    args = p.parse_args(list(argv or []))
    embedder = service_embedders(Settings()).get("all-MiniLM-L6-v2")
    embed = lambda t: embedder.embed([t], query=True)[0]
    out: list[dict[str, Any]] = []
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        register_vector(conn)
        if args.corpus == "nfcorpus":
            qrels = read_qrels(DEFAULT_DATA / "qrels" / f"{args.split}.tsv")
            texts = {q["_id"]: q["text"] for q in read_jsonl(DEFAULT_DATA / "queries.jsonl")}
            ns = namespace_id(conn, args.namespace)
            for qid in sorted(qrels):
                rels = qrels[qid]  # ids without the prefix, as documents_in_order returns them
                out.append({"id": qid, "rels": rels} | lists_for(conn, ns, embed, texts[qid], args.depth))
        else:
            from collections import defaultdict
            stats: dict[str, int] = defaultdict(int)
            for conv in select_conversations(load_locomo(None), args.conversations):
                sid = conv["sample_id"]
                turns = conversation_turns(conv)
                ns = namespace_id(conn, f"locomo-{sid}")
                for i, q in enumerate(questions(conv, {t.dia_id for t in turns}, stats)):
                    rels = {f"locomo:{sid}/{d}": 1 for d in q.evidence}
                    out.append({"id": f"{sid}#{i}", "category": q.category, "rels": rels}
                               | lists_for(conn, ns, embed, q.question, args.depth))
                print(f"  {sid}: {len(out)} questions so far", file=sys.stderr, flush=True)
    with gzip.open(args.out, "wt") as f:
        json.dump(out, f)
    print(f"wrote {len(out)} queries to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
