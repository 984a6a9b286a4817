"""NFCorpus (BEIR): nDCG@10 and recall@100 of POST /search per mode and result unit, through HTTP.

The 3,633 abstracts go into one namespace (title as the document's title, text as its body), then
every query of the split (`--split dev|test`; tune on dev, report test) runs in keyword, vector and
hybrid mode with `unit` chunk or document. Chunk results are turned into a document ranking by each
document's first appearance. nDCG@10 is trec_eval's ndcg_cut.10 (gain = the graded qrel, ideal
from all judged documents, an empty run scores 0). With `--database-url` and `--reuse` a tuning run
re-queries an earlier run's namespace instead of embedding the corpus again.
Run: `python -m benchmarks nfcorpus --split dev`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import httpx

from agentmem.api.in_thread import embedded_database, serve
from benchmarks import polite
from benchmarks.corpus import SHARED_DATA
from benchmarks.locomo import tenant_for

DEFAULT_DATA = SHARED_DATA / "nfcorpus"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "nfcorpus.json"
MODES = ("keyword", "vector", "hybrid")
UNITS = ("chunk", "document")
PREFIX = "nfcorpus:"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {doc id: graded relevance}; the header line is skipped, CRLF stripped."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, rel = line.rstrip("\r\n").split("\t")
            qrels[qid][did] = int(rel)
    return dict(qrels)


def ndcg_at(ranking: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """trec_eval ndcg_cut: linear gain, log2(rank + 1) discount, ideal from every judged document."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: Sequence[str], rels: Mapping[str, int], k: int = 100) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def documents_in_order(source_uris: Sequence[str]) -> list[str]:
    """Document ids by first appearance (several chunks of one document count once, at its best)."""
    seen: dict[str, None] = {}
    for uri in source_uris:
        seen.setdefault(uri.removeprefix(PREFIX), None)
    return list(seen)


def ingest(client: httpx.Client, headers: dict[str, str], corpus: list[dict[str, Any]], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(corpus), batch):
        docs = [{"source_uri": PREFIX + d["_id"], "title": d["title"] or None, "text": d["text"]}
                for d in corpus[i : i + batch]]
        r = client.post("/documents/batch", json={"documents": docs}, headers=headers)
        r.raise_for_status()
        bad = [x for x in r.json()["results"] if x["status"] == "error"]
        if bad:
            raise RuntimeError(f"ingest failed: {bad[:3]}")
        print(f"  ingested {min(i + batch, len(corpus))}/{len(corpus)}", file=sys.stderr)
    return time.perf_counter() - started


def search(client: httpx.Client, headers: dict[str, str], query: str, mode: str, unit: str) -> list[str]:
    body: dict[str, Any] = {"query": query, "k": 100 if unit == "document" else 200, "mode": mode}
    if unit == "document":
        body["unit"] = unit
    r = client.post("/search", json=body, headers=headers)
    r.raise_for_status()
    return documents_in_order([x["source_uri"] for x in r.json()["results"]])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.core.settings import Settings
    from agentmem.embeddings.catalog import service_embedders

    corpus = list(read_jsonl(args.data / "corpus.jsonl"))
    qrels = read_qrels(args.data / "qrels" / f"{args.split}.tsv")
    texts = {q["_id"]: q["text"] for q in read_jsonl(args.data / "queries.jsonl")}
    queries = sorted(qrels)
    embedder = service_embedders(Settings()).get(args.model)
    modes = [m for m in args.modes.split(",") if m]
    units = [u for u in args.units.split(",") if u]
    per_query: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    ingest_s = 0.0
    with (embedded_database() if not args.database_url else nullcontext(args.database_url)) as url, \
            serve(url, embedder) as running, polite.client(running.base_url, timeout=600) as client:
        headers, exists = tenant_for(running, args.namespace, args.reuse)
        if not exists:
            ingest_s = ingest(client, headers, corpus, args.batch)
        for mode in modes:
            for unit in units:
                name = f"{mode}/{unit}"
                for qid in queries:
                    ranking = search(client, headers, texts[qid], mode, unit)
                    per_query[name][qid] = {"ndcg@10": ndcg_at(ranking, qrels[qid]),
                                            "recall@100": recall_at(ranking, qrels[qid])}
                print(f"  {name}: nDCG@10 {statistics.fmean(v['ndcg@10'] for v in per_query[name].values()):.4f}",
                      file=sys.stderr)
    table = {name: {m: round(statistics.fmean(v[m] for v in rows.values()), 4) for m in ("ndcg@10", "recall@100")}
             for name, rows in per_query.items()}
    return {"benchmark": "nfcorpus", "split": args.split, "queries": len(queries), "documents": len(corpus),
            "model": f"{embedder.name} {embedder.version}", "ingest_seconds": round(ingest_s, 1),
            "results": table, "per_query_ndcg@10": {n: {q: round(v["ndcg@10"], 4) for q, v in rows.items()}
                                                   for n, rows in per_query.items()}}


def print_table(result: dict[str, Any]) -> None:
    print(f"NFCorpus {result['split']}: {result['queries']} queries, {result['documents']} documents, "
          f"model {result['model']}")
    print(f"{'mode/unit':<20}{'nDCG@10':>10}{'R@100':>10}")
    for name, m in result["results"].items():
        print(f"{name:<20}{m['ndcg@10']:>10.4f}{m['recall@100']:>10.4f}")
    print("references (test): BM25 flat 0.3218, multifield 0.3254; MiniLM 0.3143; bge-small 0.3426")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks nfcorpus", description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("dev", "test"), default="dev", help="qrels split (tune on dev only)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"NFCorpus folder (default {DEFAULT_DATA})")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated: keyword,vector,hybrid")
    p.add_argument("--units", default=",".join(UNITS), help="comma-separated: chunk,document")
    p.add_argument("--database-url", default=None, help="PostgreSQL to use (default: an embedded one under /tmp)")
    p.add_argument("--reuse", action="store_true",
                   help="with --database-url: query the namespace of an earlier run instead of ingesting again")
    p.add_argument("--namespace", default="nfcorpus", help="namespace name")
    p.add_argument("--batch", type=int, default=50, help="documents per /documents/batch request")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="embedding model (embeddings/catalog.py)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args(list(argv or []))
    result = run(args)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
