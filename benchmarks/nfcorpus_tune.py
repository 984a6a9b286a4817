"""Keyword parameter sweep on an NFCorpus namespace ingested by `python -m benchmarks nfcorpus`.

Calls keyword_hits directly (no HTTP: the figures to report come from the nfcorpus benchmark) for
each parameter set given, on the split given (dev: tuning is never done on test). Prints nDCG@10
and recall@100 per set, as documents (unit "document") and as chunks mapped to documents.
Run: `python -m benchmarks.nfcorpus_tune --database-url URL --set k1=0.9,b=0.4 --set k1=1.2,b=0.75`.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from agentmem.retrieval import bm25
from agentmem.retrieval.doc_bm25 import DOC_PARAMS, DocParams
from agentmem.retrieval.search import keyword_hits
from benchmarks.nfcorpus import DEFAULT_DATA, documents_in_order, ndcg_at, read_jsonl, read_qrels, recall_at


class KeywordOnlyEmbedder:
    """Constant unit vectors: a namespace for keyword tuning, ingested without running a model."""

    name = "keyword-tuning-constant"
    version = "1"
    dimension = 8

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def ingest_keyword_only(conn: psycopg.Connection, data: Path, namespace: str) -> None:
    """The corpus as the API ingests it (title, text, 128-token chunks), vectors left meaningless."""
    from agentmem.core.settings import Settings
    from agentmem.embeddings.registry import Embedders
    from agentmem.memory.documents import DocumentInput, upsert_documents
    from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key

    create_namespace(conn, namespace)
    who = resolve_key(conn, issue_key(conn, namespace, "tune").key)
    docs = [DocumentInput("nfcorpus:" + d["_id"], d["text"], title=d["title"] or None)
            for d in read_jsonl(data / "corpus.jsonl")]
    for i in range(0, len(docs), 500):
        upsert_documents(conn, Embedders.of(KeywordOnlyEmbedder()), who, docs[i : i + 500], Settings().chunk_tokens)


def parse_set(text: str) -> DocParams:
    changes = {}
    for part in filter(None, text.split(",")):
        name, value = part.split("=")
        changes[name] = int(value) if name == "pool" else float(value)
    return dataclasses.replace(DOC_PARAMS, **changes)


def chunk_baseline(conn: psycopg.Connection, ns: int, text: str, k1: float, b: float) -> list[str]:
    """The previous keyword retriever: chunk BM25 alone (bm25.KEYWORD_SQL), as source URIs."""
    rows = conn.execute(bm25.KEYWORD_SQL + " SELECT d.source_uri FROM scored s JOIN chunks c ON c.id = s.chunk_id"
                        " JOIN documents d ON d.id = c.document_id ORDER BY s.score DESC, s.chunk_id LIMIT 200",
                        {"ns": ns, "query": text, "k1": k1, "b": b}).fetchall()
    return [r[0] for r in rows]


def evaluate(conn: psycopg.Connection, ns: int, queries: dict[str, str], qrels: dict, p: DocParams,
             unit: str) -> tuple[float, float]:
    nd, rc = [], []
    for qid, text in queries.items():
        if unit == "old-chunk":
            uris = chunk_baseline(conn, ns, text, p.passage_k1, p.passage_b)
        else:
            uris = [h.source_uri for h in keyword_hits(conn, ns, text, 100 if unit == "document" else 200,
                                                       unit=unit, params=p)]
        ranking = documents_in_order(uris)
        nd.append(ndcg_at(ranking, qrels[qid]))
        rc.append(recall_at(ranking, qrels[qid]))
    return statistics.fmean(nd), statistics.fmean(rc)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nfcorpus_tune", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--namespace", default="nfcorpus")
    p.add_argument("--split", choices=("dev", "test"), default="dev")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--units", default="document", help="document, chunk, old-chunk (chunk BM25 alone, passage_k1/b)")
    p.add_argument("--ingest", action="store_true", help="first ingest the corpus into --namespace, keyword only")
    p.add_argument("--set", action="append", default=[], help="DocParams overrides, e.g. k1=0.9,b=0.4,title_weight=2")
    args = p.parse_args(list(argv or []))
    qrels = read_qrels(args.data / "qrels" / f"{args.split}.tsv")
    texts = {q["_id"]: q["text"] for q in read_jsonl(args.data / "queries.jsonl")}
    queries = {q: texts[q] for q in sorted(qrels)}
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        register_vector(conn)
        if args.ingest:
            ingest_keyword_only(conn, args.data, args.namespace)
        ns = conn.execute("SELECT id FROM namespaces WHERE name = %s", (args.namespace,)).fetchone()[0]
        for s in args.set or [""]:
            params = parse_set(s)
            for unit in args.units.split(","):
                nd, rc = evaluate(conn, ns, queries, qrels, params, unit)
                print(f"{args.split} {unit:<9} {s or 'defaults':<50} nDCG@10 {nd:.4f}  R@100 {rc:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
