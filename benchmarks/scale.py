"""Read path at scale: POST /context/assemble over a 100k-chunk namespace, against its floor in the same run.

The floor is what no assemble can avoid: embedding the query (on the service's query copy) plus the HNSW
top-k query alone (vector_hits, exact=False, the same SQL the service runs). Each query is timed
three ways (floor, assemble through HTTP, BM25 keyword search alone) in an order that rotates from
one query to the next, so a machine getting busier or quieter moves all three. Targets: assemble
p50 <= 1.5 x floor p50, assemble p95 < 50 ms. Also: recall@k of the HNSW path against an exact scan,
without and with a selective metadata filter (iterative scan on, as the service sets it).

Data: benchmarks/scale_data.py (real text, real MiniLM vectors cached under /tmp, COPY into the
tables, a second smaller namespace in the same tables). Run: `python -m benchmarks scale --chunks 100000`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx
import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from agentmem.core.database import open_pool
from agentmem.core.migrate import migrate
from agentmem.core.settings import Settings
from benchmarks.scale_data import CHUNK_TOKENS, Plan, build_plan, bulk_load, cached_embeddings, queries
from agentmem.api.in_thread import embedded_database, serve
from agentmem.embeddings.models import register
from agentmem.memory.namespaces import create_namespace, issue_key
from agentmem.retrieval.filters import NO_FILTERS, Filters
from agentmem.retrieval.search import QueryVector, keyword_hits, vector_hits
from agentmem.retrieval.strategies import HYBRID_RRF

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scale.json"
TARGET_RATIO = 1.5
TARGET_P95_MS = 50.0
SELECTIVE = {"bucket": 0}
EF_SEARCH = (40, 100, 200, 400)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 0.5), 2), "p95": round(pct(values, 0.95), 2), "n": len(values)}


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def namespaces_ready(url: str, plan: Plan, prefix: str) -> dict[str, int] | None:
    """Ids of the plan's namespaces if a previous run loaded them completely; None if none exists yet."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT n.name, n.id, coalesce(s.chunks, 0) FROM namespaces n"
            " LEFT JOIN namespace_stats s ON s.namespace_id = n.id WHERE n.name LIKE %(p)s", {"p": prefix + "%"},
        ).fetchall()
    if not rows:
        return None
    found = {name.removeprefix(prefix): (ns_id, chunks) for name, ns_id, chunks in rows}
    if any(found.get(k, (0, -1))[1] != plan.chunk_count(k) for k in plan.namespaces):
        raise RuntimeError(f"namespaces {prefix}* exist but are incomplete: {found}; delete them and rerun")
    return {k: found[k][0] for k in plan.namespaces}


def prepare_database(
    url: str, plan: Plan, vectors: np.ndarray, embedder: Any, prefix: str,
) -> tuple[dict[str, int], dict[str, Any]]:
    """The plan's namespaces, named prefix + name: loaded now, or reused from an earlier run."""
    migrate(url)
    ready = namespaces_ready(url, plan, prefix)
    if ready is not None:
        return ready, {"reused": True}
    with psycopg.connect(url, autocommit=True) as conn:
        model = register(conn, embedder)
        ids = {k: create_namespace(conn, prefix + k, model.id).id for k in plan.namespaces}
    started = time.perf_counter()
    seconds = bulk_load(url, plan, vectors, ids, model)
    return ids, {"reused": False, **seconds, "total_s": round(time.perf_counter() - started, 1)}


def bucket_share(url: str, ns_id: int) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT avg((d.metadata @> %(m)s)::int) FROM chunks c JOIN documents d ON d.id = c.document_id"
                           " WHERE c.namespace_id = %(ns)s",
                           {"m": Jsonb(SELECTIVE), "ns": ns_id}).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def postings(conn: psycopg.Connection[Any], ns_id: int, query: str) -> int:
    """How many (term, chunk) postings the BM25 query reads: what its cost grows with."""
    row = conn.execute(
        "SELECT count(*) FROM chunk_terms WHERE namespace_id = %(ns)s AND lexeme IN"
        " (SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', %(q)s)))", {"ns": ns_id, "q": query},
    ).fetchone()
    return int(row[0]) if row else 0


def measure_latency(
    qs: list[tuple[str, str]], embedder: Any, pool: Any, client: httpx.Client, headers: dict[str, str],
    ns_id: int, budget: int, depth: int, warmup: int, log: Any = sys.stderr,
) -> dict[str, Any]:
    """Per query: floor (embed + HNSW), assemble over HTTP, BM25 alone, in an order rotating by query."""
    rows: list[dict[str, Any]] = []
    with pool.connection() as conn:
        model = register(conn, embedder)
    # The floor embeds as the service embeds a query: on the query copy (ONNX Runtime) when there is one.
    query_model = getattr(embedder, "copy_for_queries", lambda: embedder)()

    def floor(q: str, row: dict[str, Any]) -> None:
        started = time.perf_counter()
        qvec = QueryVector(model, query_model.embed([q])[0])
        row["embed_ms"] = ms_since(started)
        t = time.perf_counter()
        with pool.connection() as conn:
            hits = vector_hits(conn, ns_id, qvec, depth, exact=False)
        row["hnsw_ms"] = ms_since(t)
        row["floor_ms"] = ms_since(started)
        row["hnsw_rows"] = len(hits)

    def assemble(q: str, row: dict[str, Any]) -> None:
        started = time.perf_counter()
        r = client.post("/context/assemble", json={"query": q, "budget_tokens": budget}, headers=headers)
        row["assemble_ms"] = ms_since(started)
        r.raise_for_status()
        out = r.json()
        if out["tokens"] > budget:
            raise RuntimeError(f"assemble returned {out['tokens']} tokens over a budget of {budget}")
        row["server"] = out["timings_ms"]
        row["context_tokens"] = out["tokens"]

    def keyword(q: str, row: dict[str, Any]) -> None:
        started = time.perf_counter()
        with pool.connection() as conn:
            hits = keyword_hits(conn, ns_id, q, depth)
        row["keyword_ms"] = ms_since(started)
        row["keyword_rows"] = len(hits)

    steps: list[Callable[[str, dict[str, Any]], None]] = [floor, assemble, keyword]
    for i, (source, q) in enumerate(qs[:warmup]):
        for step in steps:
            step(q, {})
    for i, (source, q) in enumerate(qs):
        row: dict[str, Any] = {"source": source, "query": q, "order": i % 3}
        for step in steps[i % 3:] + steps[: i % 3]:
            step(q, row)
        with pool.connection() as conn:
            row["postings"] = postings(conn, ns_id, q)
        rows.append(row)
        if (i + 1) % 50 == 0:
            done = rows[-50:]
            print(f"  {i + 1}/{len(qs)}: assemble p50 {pct([r['assemble_ms'] for r in done], 0.5):.1f} ms,"
                  f" floor p50 {pct([r['floor_ms'] for r in done], 0.5):.1f} ms (load {os.getloadavg()[0]:.1f})",
                  file=log, flush=True)
    return summarize_latency(rows)


def summarize_latency(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def col(name: str, subset: list[dict[str, Any]] = rows) -> list[float]:
        return [r[name] for r in subset]

    stages = sorted({s for r in rows for s in r["server"]})
    out: dict[str, Any] = {
        name: spread(col(name)) for name in ("assemble_ms", "floor_ms", "embed_ms", "hnsw_ms", "keyword_ms")
    }
    out["server_stages_ms"] = {s: spread([r["server"][s] for r in rows if s in r["server"]]) for s in stages}
    # Everything the server's own total does not cover: HTTP, JSON, the key lookup, the trace insert.
    out["outside_server_total_ms"] = spread([r["assemble_ms"] - r["server"]["total"] for r in rows])
    out["ratio_p50"] = round(out["assemble_ms"]["p50"] / out["floor_ms"]["p50"], 3)
    out["by_source"] = {
        s: {name: spread(col(name, [r for r in rows if r["source"] == s]))
            for name in ("assemble_ms", "floor_ms", "keyword_ms")}
        | {"postings_p50": pct(col("postings", [r for r in rows if r["source"] == s]), 0.5)}
        for s in sorted({r["source"] for r in rows})
    }
    # Slowest tenth of keyword searches: how many postings they read, against the rest.
    by_kw = sorted(rows, key=lambda r: r["keyword_ms"])
    tail = by_kw[int(len(by_kw) * 0.9):]
    out["keyword_postings"] = {"p50_all": pct(col("postings"), 0.5), "p50_slowest_tenth": pct(col("postings", tail), 0.5),
                               "max": max(col("postings"))}
    out["short_hnsw_results"] = sum(1 for r in rows if r["hnsw_rows"] < max(col("hnsw_rows")))
    out["rows"] = rows
    return out


def recall_at_k(exact: Sequence[float], approx: Sequence[float], k: int) -> float:
    """Share of the true top k that the approximate search found, judged by similarity, not by id:
    the corpus holds identical texts (one turn inside several windows), whose tied vectors an exact
    scan orders by id and HNSW by graph position; any of them is a right answer."""
    truth = list(exact[:k])
    if not truth:
        return 1.0
    kth = truth[-1] - 1e-6
    return min(len(truth), sum(1 for s in approx[:k] if s >= kth)) / len(truth)


def measure_recall(
    qs: list[tuple[str, str]], embedder: Any, pool: Any, ns_id: int, ks: Sequence[int], log: Any = sys.stderr,
) -> dict[str, Any]:
    """recall@k of HNSW (iterative scan, the pool's settings) against an exact scan, without and with a filter."""
    with pool.connection() as conn:
        model = register(conn, embedder)
    vectors = [QueryVector(model, v) for v in embedder.embed([q for _, q in qs])]
    out: dict[str, Any] = {}
    for label, filters in (("unfiltered", NO_FILTERS), ("filtered", Filters(metadata=SELECTIVE))):
        for k in ks:
            recalls: list[float] = []
            short = 0
            hnsw_ms: list[float] = []
            exact_ms: list[float] = []
            with pool.connection() as conn:
                for qvec in vectors:
                    t = time.perf_counter()
                    approx = vector_hits(conn, ns_id, qvec, k, filters, exact=False)
                    hnsw_ms.append(ms_since(t))
                    t = time.perf_counter()
                    exact = vector_hits(conn, ns_id, qvec, k, filters, exact=True)
                    exact_ms.append(ms_since(t))
                    recalls.append(recall_at_k([h.score for h in exact], [h.score for h in approx], k))
                    short += len(approx) < len(exact)
            out[f"{label}@{k}"] = {"recall": round(float(np.mean(recalls)), 4), "min": round(min(recalls), 3),
                                   "misses": sum(r < 0.5 for r in recalls), "short_results": short,
                                   "hnsw_ms": spread(hnsw_ms), "exact_ms": spread(exact_ms)}
            print(f"  recall {label}@{k}: {out[f'{label}@{k}']['recall']:.3f}", file=log, flush=True)
    # The service runs ef_search 100 (agentmem/database.py); pgvector's default is 40.
    with pool.connection() as conn:
        truths = [[h.score for h in vector_hits(conn, ns_id, v, 10, exact=True)] for v in vectors]
        configured = int(conn.execute("SHOW hnsw.ef_search").fetchone()[0])  # type: ignore[index]
        for ef in EF_SEARCH:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            recalls, times = [], []
            for qvec, truth in zip(vectors, truths):
                t = time.perf_counter()
                got = [h.score for h in vector_hits(conn, ns_id, qvec, 10, exact=False)]
                times.append(ms_since(t))
                recalls.append(recall_at_k(truth, got, 10))
            out[f"unfiltered@10 ef_search={ef}"] = {
                "recall": round(float(np.mean(recalls)), 4), "min": round(min(recalls), 3),
                "misses": sum(r < 0.5 for r in recalls), "short_results": 0, "hnsw_ms": spread(times),
                "exact_ms": out["unfiltered@10"]["exact_ms"]}
        conn.execute(f"SET hnsw.ef_search = {configured}")
    return out


def table(result: dict[str, Any]) -> str:
    lat, rec = result["latency"], result["recall"]
    cfg = result["config"]
    lines = [
        f"scale: {cfg['chunks']:,} chunks in the queried namespace (+{cfg['small_chunks']:,} in another), "
        f"{lat['assemble_ms']['n']} queries, budget {cfg['budget']} tokens, load {result['environment']['loadavg_before'][0]:.1f}"
        f" -> {result['environment']['loadavg_after'][0]:.1f}",
        f"{'':<42}{'p50 ms':>9}{'p95 ms':>9}",
    ]
    for label, key in (("assemble (HTTP, client side)", "assemble_ms"), ("floor: embed 1 query + HNSW top-k", "floor_ms"),
                       ("  embed 1 query", "embed_ms"), (f"  HNSW top-{cfg['depth']} (vector_hits)", "hnsw_ms"),
                       (f"keyword BM25 top-{cfg['depth']} (keyword_hits)", "keyword_ms")):
        lines.append(f"{label:<42}{lat[key]['p50']:>9.2f}{lat[key]['p95']:>9.2f}")
    for stage, s in lat["server_stages_ms"].items():
        lines.append(f"{'  server stage ' + stage:<42}{s['p50']:>9.2f}{s['p95']:>9.2f}")
    o = lat["outside_server_total_ms"]
    lines.append(f"{'  outside server total (HTTP, auth, trace)':<42}{o['p50']:>9.2f}{o['p95']:>9.2f}")
    for src, s in lat["by_source"].items():
        lines.append(f"{'  ' + src + ' queries: assemble / keyword':<42}{s['assemble_ms']['p50']:>9.2f}{s['assemble_ms']['p95']:>9.2f}"
                     f"   keyword {s['keyword_ms']['p50']:.2f}/{s['keyword_ms']['p95']:.2f}, postings p50 {s['postings_p50']:,.0f}")
    lines.append(f"assemble p50 / floor p50 = {lat['ratio_p50']:.2f} (target <= {TARGET_RATIO}); "
                 f"assemble p95 {lat['assemble_ms']['p95']:.1f} ms (target < {TARGET_P95_MS:.0f})")
    lines.append("")
    lines.append(f"vector recall of HNSW vs exact ({rec['queries']} queries; filter {json.dumps(SELECTIVE)} keeps "
                 f"{rec['filter_share']:.1%} of the namespace)")
    lines.append(f"{'':<30}{'recall':>8}{'min':>7}{'<0.5':>6}{'short':>7}{'hnsw p50':>10}{'p95':>8}{'exact p50':>11}{'p95':>8}")
    for key, r in rec.items():
        if not isinstance(r, dict):
            continue
        lines.append(f"{key:<30}{r['recall']:>8.3f}{r['min']:>7.2f}{r['misses']:>6}{r['short_results']:>7}{r['hnsw_ms']['p50']:>10.2f}"
                     f"{r['hnsw_ms']['p95']:>8.2f}{r['exact_ms']['p50']:>11.2f}{r['exact_ms']['p95']:>8.2f}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=100_000, help="chunks in the queried namespace (default 100000)")
    p.add_argument("--small-chunks", type=int, default=None, help="chunks in the second namespace (default chunks/10)")
    p.add_argument("--queries", type=int, default=200, help="assemble calls (default 200)")
    p.add_argument("--recall-queries", type=int, default=100, help="queries for recall (default 100)")
    p.add_argument("--budget", type=int, default=2000, help="assemble budget_tokens (default 2000)")
    p.add_argument("--warmup", type=int, default=10, help="untimed queries first (default 10)")
    p.add_argument("--chunk-tokens", type=int, default=CHUNK_TOKENS,
                   help=f"chunk size for documents (default {CHUNK_TOKENS}; see benchmarks/scale_data.py)")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--database-url", default=None,
                   help="PostgreSQL to use; a loaded namespace from an earlier run is reused (default: embedded, /tmp)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the embedded server
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("agentmem.assemble").setLevel(logging.WARNING)  # one JSON line per call would bury the table
    started = time.perf_counter()
    settings = Settings()
    small = args.small_chunks if args.small_chunks is not None else args.chunks // 10
    sizes = {"main": args.chunks} | ({"small": small} if small else {})
    plan = build_plan(sizes, args.chunk_tokens, args.locomo)

    import torch

    from agentmem.embeddings.minilm import load_minilm

    embedder = load_minilm(batch_size=settings.embed_batch_size)
    vectors, embed_s = cached_embeddings(plan.texts(), embedder)
    qs = queries(plan, "main", args.locomo, args.queries)
    depth = HYBRID_RRF.candidates
    with (nullcontext(args.database_url) if args.database_url else embedded_database()) as url:
        ids, load = prepare_database(url, plan, vectors, embedder, f"scale-{plan.key}-")
        print(f"database ready: {load}", file=sys.stderr, flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            key = issue_key(conn, f"scale-{plan.key}-main", "bench-scale").key
        headers = {"Authorization": f"Bearer {key}"}
        load_before = os.getloadavg()
        pool = open_pool(url, min_size=1, max_size=2)
        try:
            with serve(url, embedder, settings) as running, \
                    httpx.Client(base_url=running.base_url, timeout=120) as client:
                latency = measure_latency(qs, embedder, pool, client, headers, ids["main"], args.budget, depth,
                                          args.warmup)
                recall = measure_recall(qs[: args.recall_queries], embedder, pool, ids["main"], (10, depth))
            recall |= {"queries": min(args.recall_queries, len(qs)), "filter_share": bucket_share(url, ids["main"])}
        finally:
            pool.close()
    rows = latency.pop("rows")
    result = {
        "benchmark": "scale",
        "config": {"chunks": args.chunks, "small_chunks": small, "queries": len(qs), "budget": args.budget,
                   "depth": depth, "warmup": args.warmup, "plan": plan.key, "selective_filter": SELECTIVE,
                   "exact_search_max_chunks": settings.exact_search_max_chunks,
                   "database": "external" if args.database_url else "embedded"},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "model": embedder.name,
                        "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "load": load | {"embed_s": round(embed_s, 1)},
        "latency": latency,
        "recall": recall,
        "meets_target": {"ratio_p50": latency["ratio_p50"] <= TARGET_RATIO,
                         "assemble_p95": latency["assemble_ms"]["p95"] < TARGET_P95_MS},
        "queries": rows,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
