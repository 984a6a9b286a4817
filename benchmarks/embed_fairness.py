"""Query-embedding latency while another namespace bulk-embeds: the model scheduler against one lock.

Queries (LoCoMo questions) arrive open-loop, one every `--interval-ms`, as searches do. Measured with
all-MiniLM-L6-v2 in three runs of the same arrivals:

- alone: nothing else uses the model (the baseline);
- scheduled: another namespace embeds `--bulk-chunks` chunks (corpus documents chunked as the service
  does) through the scheduler (embeddings/scheduler.py), as an upsert does; a third namespace
  upserts a small document (`--small-chunks`) at the same time;
- bulk only: the bulk work alone through the scheduler (what slicing costs its throughput);
- one lock: the same bulk work as one embed call on the bare model, as before the scheduler (every
  query that arrives meanwhile waits for the whole call), and the small upsert likewise.

Reported: query latency p50/p95 and their ratio to the baseline, the small upsert's latency, and the
bulk work's throughput (what slicing it costs). The database plays no part in what is measured.

    python -m benchmarks embed-fairness [--bulk-chunks 2000] [--interval-ms 100] [--out /tmp/...json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from agentmem.embeddings.scheduler import ScheduledEmbedder, SchedulerPolicy
from agentmem.memory.documents import index_text
from benchmarks.corpus import iter_documents, load_locomo, take_chunks

DEFAULT_OUT = Path("/tmp/agentmem-bench/embed_fairness.json")
Embed = Callable[[Sequence[str]], Any]
Work = tuple[Embed, list[str]]  # an embed call and its texts


def texts_for(bulk: int, small: int, chunk_tokens: int, locomo: str | None) -> tuple[list[str], list[str], list[str]]:
    """Bulk chunks, a small document's chunks (from later documents) and query texts."""
    docs = list(take_chunks(iter_documents(locomo), bulk + small, chunk_tokens))
    chunks = [index_text(d.title, c.text) for d, cs in docs for c in cs]
    queries = [str(qa["question"]) for conv in load_locomo(locomo) for qa in conv["qa"]]
    return chunks[:bulk], chunks[-small:], queries


def run(query: Embed, bulk: Work | None, small: Work | None, queries: list[str], interval: float,
        alone_count: int) -> dict[str, Any]:
    """Queries every `interval` s while the bulk call runs (or `alone_count` of them when there is none)."""
    latencies: list[float] = []
    out: dict[str, Any] = {}
    done = threading.Event()

    def timed(fn: Embed, texts: Sequence[str]) -> float:
        started = time.perf_counter()
        fn(texts)
        return time.perf_counter() - started

    def ask(text: str, arrived: float) -> None:
        query([text])
        latencies.append(time.perf_counter() - arrived)  # from arrival: a query may wait for a thread too

    with ThreadPoolExecutor(64) as pool:
        bulk_future = small_future = None
        if bulk is not None:
            bulk_future = pool.submit(timed, *bulk)
            bulk_future.add_done_callback(lambda _: done.set())
            time.sleep(interval)  # the bulk call is under way before the small upsert and the queries
            if small is not None:
                small_future = pool.submit(timed, *small)
        asked = []
        for i, text in enumerate(queries):
            if (bulk is None and i >= alone_count) or done.is_set():
                break
            asked.append(pool.submit(ask, text, time.perf_counter()))
            time.sleep(interval)
        for f in asked:
            f.result()
        if bulk_future is not None:
            out["bulk_s"] = round(bulk_future.result(), 2)
            out["bulk_chunks_per_s"] = round(len(bulk[1]) / out["bulk_s"], 1)
        if small_future is not None:
            out["small_upsert_s"] = round(small_future.result(), 3)
    if not latencies:
        return out | {"queries": 0}
    ms = np.array(latencies) * 1000
    return out | {"queries": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
                  "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks embed-fairness", description=__doc__.split("\n")[0])
    p.add_argument("--bulk-chunks", type=int, default=2000)
    p.add_argument("--small-chunks", type=int, default=50)
    p.add_argument("--chunk-tokens", type=int, default=128)
    p.add_argument("--slice", type=int, default=SchedulerPolicy().slice_texts, help="most texts per bulk slice")
    p.add_argument("--slice-seconds", type=float, default=SchedulerPolicy().slice_seconds,
                   help="fewer texts per slice when they would take longer (0: no time bound)")
    p.add_argument("--interval-ms", type=float, default=100.0, help="time between query arrivals")
    p.add_argument("--alone-queries", type=int, default=100)
    p.add_argument("--locomo", default=None)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from agentmem.embeddings.minilm import load_minilm

    bulk, small, queries = texts_for(args.bulk_chunks, args.small_chunks, args.chunk_tokens, args.locomo)
    model = load_minilm()
    policy = SchedulerPolicy(slice_texts=args.slice, slice_seconds=args.slice_seconds or None, timeout_seconds=600)
    scheduled = ScheduledEmbedder(model, policy)
    model.embed(bulk[:64])  # warm-up
    interval = args.interval_ms / 1000
    runs: dict[str, dict[str, Any]] = {}
    print("alone ...", file=sys.stderr, flush=True)
    runs["alone"] = run(lambda t: scheduled.embed(t, query=True), None, None, queries, interval, args.alone_queries)
    print("scheduled ...", file=sys.stderr, flush=True)
    runs["scheduled"] = run(lambda t: scheduled.embed(t, query=True), (lambda t: scheduled.embed(t, "bulk"), bulk),
                            (lambda t: scheduled.embed(t, "small"), small), queries, interval, 0)
    stats = scheduled.scheduler.stats()
    print("bulk only, scheduled ...", file=sys.stderr, flush=True)
    runs["bulk_only"] = run(lambda t: scheduled.embed(t, query=True), (lambda t: scheduled.embed(t, "bulk"), bulk),
                            None, [], interval, 0)
    print("one lock ...", file=sys.stderr, flush=True)
    runs["one_lock"] = run(model.embed, (model.embed, bulk), (model.embed, small), queries, interval, 0)
    scheduled.scheduler.close()
    base = runs["alone"]
    for r in runs.values():
        if not r["queries"]:
            continue
        r["p50_ratio"] = round(r["p50_ms"] / base["p50_ms"], 2)
        r["p95_ratio"] = round(r["p95_ms"] / base["p95_ms"], 2)
    result = {"model": model.name, "bulk_chunks": len(bulk), "small_chunks": len(small),
              "chunk_tokens": args.chunk_tokens, "slice": args.slice, "slice_seconds": policy.slice_seconds,
              "interval_ms": args.interval_ms,
              "cpus": os.cpu_count(), "runs": runs,
              "scheduler_query_wait_p95_ms": round((stats.wait_quantile("query", 0.95) or 0) * 1000, 1),
              "loadavg_after": os.getloadavg()}
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def table(result: dict[str, Any]) -> str:
    head = (f"{'run':<11}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p50 x':>7}{'p95 x':>7}"
            f"{'small upsert s':>16}{'bulk chunks/s':>15}")
    lines = [head]
    for name, r in result["runs"].items():
        q = [r.get(k, "-") for k in ("p50_ms", "p95_ms", "max_ms", "p50_ratio", "p95_ratio")]
        lines.append(f"{name:<11}{r['queries']:>8}{q[0]:>9}{q[1]:>9}{q[2]:>9}{q[3]:>7}{q[4]:>7}"
                     f"{r.get('small_upsert_s', '-'):>16}{r.get('bulk_chunks_per_s', '-'):>15}")
    lines.append(f"{result['model']}: {result['bulk_chunks']} bulk chunks of {result['chunk_tokens']} tokens "
                 f"(slices of <= {result['slice']} texts, <= {result['slice_seconds']} s), "
                 f"a {result['small_chunks']}-chunk upsert from a third namespace, "
                 f"a query every {result['interval_ms']:g} ms; x = ratio to 'alone'")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
