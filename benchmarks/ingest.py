"""Ingest benchmark: chunks/s through the whole write path, against the raw model on the same texts.

The write path is everything a client pays for: HTTP and JSON through uvicorn, validation, chunking,
token counting, embedding, and the per-document transaction (COPY into chunks, HNSW and GIN index
inserts, version record, commit). The baseline is `embedder.embed` alone on the chunk texts of a
sample of the same requests (each sampled request's chunks in one call, as the write path makes it),
run in the same process between write rounds, alternately before and after, so that a machine
getting busier or quieter moves both sides. Target: the write path keeps >= 85% of raw throughput.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import httpx
import psycopg

from agentmem.core.settings import Settings
from benchmarks.corpus import Doc, iter_documents, take_chunks
from agentmem.api.in_thread import Running, embedded_database, make_tenant, serve
from agentmem.memory.chunking import Chunk

TARGET_RATIO = 0.85
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ingest.json"


@dataclass(frozen=True)
class Request:
    """One POST /documents/batch: its documents and the chunks the server is expected to make."""

    index: int
    docs: tuple[Doc, ...]
    chunks: tuple[tuple[Chunk, ...], ...]

    @property
    def n_chunks(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def n_tokens(self) -> int:
        return sum(c.tokens for cs in self.chunks for c in cs)

    def texts(self) -> list[str]:
        return [c.text for cs in self.chunks for c in cs]

    def body(self) -> dict[str, Any]:
        return {"documents": [{"source_uri": d.source_uri, "title": d.title, "text": d.text} for d in self.docs]}


@dataclass
class Tally:
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, chunks: int, tokens: int, seconds: float) -> None:
        self.chunks += chunks
        self.tokens += tokens
        self.seconds += seconds

    def rates(self) -> dict[str, float]:
        s = self.seconds or float("nan")
        return {"chunks": self.chunks, "tokens": self.tokens, "seconds": round(self.seconds, 3),
                "chunks_per_s": round(self.chunks / s, 2), "tokens_per_s": round(self.tokens / s, 1)}


@dataclass
class Round:
    index: int
    concurrency: int
    order: str  # "raw,write" or "write,raw"
    raw: Tally = field(default_factory=Tally)
    write: Tally = field(default_factory=Tally)

    def ratio(self) -> float:
        """Write-path tokens/s over raw tokens/s (tokens correct for the sample's chunk lengths)."""
        if not self.raw.seconds or not self.write.seconds or not self.raw.tokens:
            return float("nan")
        return (self.write.tokens / self.write.seconds) / (self.raw.tokens / self.raw.seconds)


def plan(chunks: int, chunk_tokens: int, batch_docs: int, round_chunks: int, locomo: str | None) -> list[list[Request]]:
    """The corpus cut into requests of `batch_docs` documents, grouped into rounds of ~`round_chunks` chunks."""
    pairs = list(take_chunks(iter_documents(locomo), chunks, chunk_tokens))
    requests = [
        Request(i // batch_docs, tuple(d for d, _ in pairs[i : i + batch_docs]),
                tuple(tuple(c) for _, c in pairs[i : i + batch_docs]))
        for i in range(0, len(pairs), batch_docs)
    ]
    rounds: list[list[Request]] = [[]]
    for r in requests:
        if rounds[-1] and sum(x.n_chunks for x in rounds[-1]) >= round_chunks:
            rounds.append([])
        rounds[-1].append(r)
    return rounds


def _post(client: httpx.Client, headers: dict[str, str], request: Request) -> None:
    r = client.post("/documents/batch", json=request.body(), headers=headers)
    r.raise_for_status()
    results = r.json()["results"]
    for doc, chunks, got in zip(request.docs, request.chunks, results, strict=True):
        if got["status"] != "created" or got["chunks"] != len(chunks):
            raise RuntimeError(f"{doc.source_uri}: expected created with {len(chunks)} chunks, got {got}")


def run_rounds(
    rounds: list[list[Request]], embedder: Any, running: Running, headers: dict[str, str],
    concurrency: Sequence[int], sample_every: int, log: Any = sys.stderr,
) -> list[Round]:
    """Rounds cycle through the concurrency levels; raw goes first, then last, every other cycle."""
    done: list[Round] = []
    clients = [httpx.Client(base_url=running.base_url, timeout=None) for _ in range(max(concurrency))]
    try:
        with ThreadPoolExecutor(max(concurrency)) as pool:
            for k, requests in enumerate(rounds):
                c = concurrency[k % len(concurrency)]
                raw_first = (k // len(concurrency)) % 2 == 0
                rd = Round(k, c, "raw,write" if raw_first else "write,raw")
                sample = [r for r in requests if r.index % sample_every == 0]

                def raw() -> None:
                    for r in sample:
                        t = time.perf_counter()
                        embedder.embed(r.texts())
                        rd.raw.add(r.n_chunks, r.n_tokens, time.perf_counter() - t)

                def write() -> None:
                    t = time.perf_counter()
                    # Worker w sends requests w, w + c, w + 2c, ...: c requests in flight.
                    list(pool.map(lambda w: [_post(clients[w], headers, r) for r in requests[w::c]], range(c)))
                    rd.write.add(sum(r.n_chunks for r in requests), sum(r.n_tokens for r in requests),
                                 time.perf_counter() - t)

                for step in (raw, write) if raw_first else (write, raw):
                    step()
                done.append(rd)
                print(f"round {k + 1}/{len(rounds)} (concurrency {c}): write {rd.write.rates()['chunks_per_s']:.1f}"
                      f" chunks/s, raw {rd.raw.rates()['chunks_per_s']:.1f} chunks/s, ratio {rd.ratio():.3f}"
                      f" (load {os.getloadavg()[0]:.1f})", file=log, flush=True)
    finally:
        for client in clients:
            client.close()
    return done


def stored_chunks(database_url: str, namespace: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM chunks c JOIN namespaces n ON n.id = c.namespace_id WHERE n.name = %(name)s",
            {"name": namespace},
        ).fetchone()
    return int(row[0]) if row else 0


def _spread(values: Iterable[float]) -> list[float] | None:
    xs = sorted(x for x in values if x == x)
    return [round(xs[0], 3), round(xs[len(xs) // 2], 3), round(xs[-1], 3)] if xs else None


def summarize(rounds: Sequence[Round]) -> dict[str, Any]:
    """The raw baseline pooled over every round; the write path per concurrency level."""
    raw = Tally()
    for rd in rounds:
        raw.add(rd.raw.chunks, rd.raw.tokens, rd.raw.seconds)
    r = raw.rates()
    out: dict[str, Any] = {"raw": r, "write": {}}
    for c in sorted({rd.concurrency for rd in rounds}):
        write = Tally()
        mine = [rd for rd in rounds if rd.concurrency == c]
        for rd in mine:
            write.add(rd.write.chunks, rd.write.tokens, rd.write.seconds)
        w = write.rates()
        out["write"][str(c)] = w | {
            "ratio_tokens": round(w["tokens_per_s"] / r["tokens_per_s"], 3),
            "ratio_chunks": round(w["chunks_per_s"] / r["chunks_per_s"], 3),
            "round_ratio_min_median_max": _spread(rd.ratio() for rd in mine),
        }
    return out


def table(summary: dict[str, Any]) -> str:
    raw = summary["raw"]
    lines = [
        f"{'':<28}{'chunks':>8}{'seconds':>10}{'chunks/s':>10}{'tokens/s':>10}{'write/raw':>11}{'per round':>24}",
        f"{'raw model (sample)':<28}{raw['chunks']:>8}{raw['seconds']:>10.1f}{raw['chunks_per_s']:>10.1f}"
        f"{raw['tokens_per_s']:>10.0f}",
    ]
    for c, w in summary["write"].items():
        spread = "/".join(f"{x:.2f}" for x in w["round_ratio_min_median_max"] or [])
        lines.append(
            f"{'write path, concurrency ' + c:<28}{w['chunks']:>8}{w['seconds']:>10.1f}{w['chunks_per_s']:>10.1f}"
            f"{w['tokens_per_s']:>10.0f}{w['ratio_tokens']:>11.3f}{spread:>24}"
        )
    by_chunks = ", ".join(f"concurrency {c}: {w['ratio_chunks']:.3f}" for c, w in summary["write"].items())
    lines.append(f"write/raw by tokens/s (target >= {TARGET_RATIO}); by chunks/s {by_chunks};"
                 " per round: min/median/max")
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks ingest", description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=20_000, help="chunks to ingest (default 20000)")
    p.add_argument("--batch-docs", type=int, default=16, help="documents per POST /documents/batch (default 16)")
    p.add_argument("--concurrency", default="1,2",
                   help="requests in flight at once; a list alternates by round (default 1,2)")
    p.add_argument("--chunk-tokens", type=int, default=None, help="chunk size (default: the service's setting)")
    p.add_argument("--round-chunks", type=int, default=500, help="chunks per write round (default 500)")
    p.add_argument("--raw-every", type=int, default=5,
                   help="time the raw model on every Nth request's chunks (default 5)")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--database-url", default=None, help="PostgreSQL to use (default: an embedded one under /tmp)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so the embedded server is stopped and its folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the table
    settings = Settings()
    if args.chunk_tokens:
        settings = settings.model_copy(update={"chunk_tokens": args.chunk_tokens})
    started = time.perf_counter()
    rounds = plan(args.chunks, settings.chunk_tokens, args.batch_docs, args.round_chunks, args.locomo)
    requests = [r for rs in rounds for r in rs]
    total = sum(r.n_chunks for r in requests)
    print(f"corpus: {sum(len(r.docs) for r in requests):,} documents, {total:,} chunks of <= {settings.chunk_tokens}"
          f" tokens, {len(requests)} requests in {len(rounds)} rounds ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr)

    from agentmem.embeddings.minilm import load_minilm

    import torch

    embedder = load_minilm(batch_size=settings.embed_batch_size)
    embedder.embed(requests[0].texts())  # warm-up, not timed
    namespace = f"bench-ingest-{int(time.time())}"
    load_before = os.getloadavg()
    with _database(args.database_url) as url, serve(url, embedder, settings) as running:
        headers = make_tenant(running, namespace)
        levels = [int(c) for c in str(args.concurrency).split(",")]
        done = run_rounds(rounds, embedder, running, headers, levels, args.raw_every)
        stored = stored_chunks(url, namespace)
        if args.database_url:
            with httpx.Client(base_url=running.base_url, timeout=None) as c:
                c.delete(f"/admin/namespaces/{namespace}",
                         headers={"Authorization": f"Bearer {running.admin_token}"}).raise_for_status()
    if stored != total:
        print(f"error: {stored:,} chunks stored, {total:,} expected", file=sys.stderr)
        return 1
    summary = summarize(done)
    print(table(summary))
    result = {
        "benchmark": "ingest",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "database_url"}
        | {"chunk_tokens": settings.chunk_tokens, "embed_batch_size": settings.embed_batch_size,
           "database": "external" if args.database_url else "embedded"},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "model": embedder.name, "model_version": embedder.version,
                        "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "summary": summary,
        "meets_target": {c: w["ratio_tokens"] >= TARGET_RATIO for c, w in summary["write"].items()},
        "rounds": [{"index": rd.index, "concurrency": rd.concurrency, "order": rd.order, "raw": asdict(rd.raw),
                    "write": asdict(rd.write), "ratio": round(rd.ratio(), 3)} for rd in done],
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _database(url: str | None) -> Any:
    from contextlib import nullcontext

    return nullcontext(url) if url else embedded_database()


if __name__ == "__main__":
    sys.exit(main())
