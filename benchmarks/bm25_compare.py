"""Keyword search options compared at scale: BM25 in PostgreSQL (the service's), bm25s in Python, PostgreSQL ts_rank_cd.

Same run, same machine, same data:
- latency p50/p95 of a top-k keyword query over the 100k-chunk namespace of `python -m benchmarks scale`
  (its realistic queries), for keyword_hits (chunk_terms postings + namespace_stats), bm25s (English
  stop words, Snowball stemmer, the index in this process) and full text with an OR tsquery ranked by
  ts_rank_cd (GIN index on chunks.tsv);
- what each costs to build and to keep current: bm25s index build time and RSS growth (it has no
  incremental update: a write means a rebuild); for PostgreSQL, the time and size of the postings
  table and of the GIN index, and what the BM25 triggers add to one document's insert and delete;
- quality on LoCoMo: evidence recall@10 of each, keyword only, one item per turn, every conversation,
  questions of categories 1-4 (as in `python -m benchmarks locomo`).

Vectors play no part in keyword search, so every chunk here gets the same unit vector: this
benchmark needs no embedding run. bm25s is not a dependency of agentmem: install it (and PyStemmer)
into the venv to run this script (`pip install bm25s PyStemmer`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import psycopg

from agentmem.core.settings import Settings
from benchmarks.corpus import load_locomo, session_numbers, turn_text
from benchmarks.scale import ms_since, prepare_database, spread
from benchmarks.scale_data import CHUNK_TOKENS, Plan, PlannedDoc, build_plan, load_namespace, queries
from agentmem.api.in_thread import embedded_database
from agentmem.embeddings.models import by_id, input_hash, register
from agentmem.embeddings.registry import ModelSpec
from agentmem.memory.namespaces import create_namespace
from agentmem.retrieval.search import keyword_hits

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bm25_compare.json"
_DIA = re.compile(r"^D(\d+):(\d+)$")

# An OR of the query's lexemes (plainto_tsquery ANDs them), ranked by cover density.
FTS_SQL = """
WITH q AS (SELECT nullif(replace(plainto_tsquery('english', %(query)s)::text, ' & ', ' | '), '')::tsquery AS tsq)
SELECT c.id, ts_rank_cd(c.tsv, q.tsq) AS score FROM chunks c, q
WHERE c.namespace_id = %(ns)s AND c.tsv @@ q.tsq ORDER BY score DESC, c.id LIMIT %(n)s
"""


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Bm25s:
    """bm25s over a list of texts, with the Snowball English stemmer and its English stop words."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.index = bm25s.BM25(k1=1.2, b=0.75)
        self.index.index(tokens, show_progress=False)
        self.size = len(texts)

    def top(self, query: str, k: int) -> list[int]:
        q = self._bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False)
        docs, scores = self.index.retrieve(q, k=min(k, self.size), show_progress=False, n_threads=1)
        return [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]


def fts_top(conn: psycopg.Connection[Any], ns_id: int, query: str, k: int) -> list[int]:
    return [r[0] for r in conn.execute(FTS_SQL, {"ns": ns_id, "query": query, "n": k}).fetchall()]


def db_top(conn: psycopg.Connection[Any], ns_id: int, query: str, k: int) -> list[int]:
    return [h.chunk_id for h in keyword_hits(conn, ns_id, query, k)]


def latency(qs: list[str], fns: dict[str, Callable[[str], Any]], warmup: int = 5) -> dict[str, Any]:
    """Each query through every option, the order rotating by query."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for q in qs[:warmup]:
        for fn in fns.values():
            fn(q)
    for i, q in enumerate(qs):
        for name in names[i % len(names):] + names[: i % len(names)]:
            started = time.perf_counter()
            fns[name](q)
            times[name].append(ms_since(started))
    return {name: spread(t) for name, t in times.items()}


def timed(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any] | None = None) -> float:
    started = time.perf_counter()
    conn.execute(statement, params)
    return ms_since(started)


def rolled_back(conn: psycopg.Connection[Any], fn: Callable[[], float]) -> float:
    """Run fn in a transaction that is rolled back: a measurement that leaves nothing behind."""
    tx = conn.transaction(force_rollback=True)
    with tx:
        return fn()


def build_costs(url: str, ns_id: int) -> dict[str, Any]:
    """The postings table and the GIN index: time to build them for the namespace, their size."""
    out: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        out["to_tsvector_s"] = round(rolled_back(conn, lambda: timed(
            conn, "SELECT count(to_tsvector('english', text)) FROM chunks WHERE namespace_id = %(ns)s",
            {"ns": ns_id})) / 1000, 1)
        out["postings_build_s"] = round(rolled_back(conn, lambda: timed(
            conn, "CREATE TEMP TABLE ct AS SELECT c.namespace_id, t.lexeme, c.id AS chunk_id,"
            " coalesce(array_length(t.positions, 1), 1) AS tf, tsvector_length_total(c.tsv) AS dl"
            " FROM chunks c, unnest(c.tsv) AS t WHERE c.namespace_id = %(ns)s", {"ns": ns_id})
            + timed(conn, "ALTER TABLE ct ADD PRIMARY KEY (namespace_id, lexeme, chunk_id)")
            + timed(conn, "CREATE INDEX ON ct (chunk_id)")) / 1000, 1)
        out["gin_build_s"] = round(rolled_back(conn, lambda: timed(
            conn, f"CREATE INDEX gin_tmp ON chunks USING gin (tsv) WHERE namespace_id = {int(ns_id)}")) / 1000, 1)
        row = conn.execute(
            "SELECT (SELECT count(*) FROM chunk_terms WHERE namespace_id = %(ns)s), (SELECT count(*) FROM chunk_terms),"
            " pg_total_relation_size('chunk_terms'), pg_relation_size('chunks_tsv')", {"ns": ns_id}).fetchone()
        assert row is not None
        share = row[0] / row[1] if row[1] else 0.0
        out["postings_rows"] = row[0]
        out["postings_mib"] = round(row[2] * share / 2**20, 1)  # the namespace's share of table and indexes
        out["gin_mib"] = round(row[3] * share / 2**20, 1)
    return out


def write_costs(url: str, ns_id: int, reps: int = 20) -> dict[str, Any]:
    """One 10-chunk document inserted (COPY) and deleted, with and without the BM25 triggers, rolled back."""
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        rows = conn.execute(
            "SELECT text, embedding FROM chunks WHERE namespace_id = %(ns)s ORDER BY id LIMIT 10", {"ns": ns_id},
        ).fetchall()
        model = by_id(conn, conn.execute("SELECT embedding_model_id FROM chunks WHERE namespace_id = %(ns)s LIMIT 1",
                                         {"ns": ns_id}).fetchone()[0])  # type: ignore[index]
        doc = conn.execute("SELECT document_id FROM chunks WHERE namespace_id = %(ns)s GROUP BY document_id"
                           " HAVING count(*) = 10 LIMIT 1", {"ns": ns_id}).fetchone()

        def insert() -> float:
            started = time.perf_counter()
            d = conn.execute("INSERT INTO documents (namespace_id, source_uri, kind, text, content_hash, tokens)"
                             " VALUES (%(ns)s, 'bench://write-cost', 'document', 'x', 'x', 1) RETURNING id",
                             {"ns": ns_id}).fetchone()[0]  # type: ignore[index]
            with conn.cursor() as cur, cur.copy(
                    "COPY chunks (namespace_id, document_id, kind, ord, text, tokens, embedding, embedding_model_id,"
                    " embedded_hash) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "uuid", "text", "int4", "text", "int4", "vector", "int4", "bytea"])
                for i, (text, emb) in enumerate(rows):
                    copy.write_row((ns_id, d, "document", i, text, 30, emb, model.id, input_hash(text)))
            return ms_since(started)

        def delete() -> float:
            return timed(conn, "DELETE FROM documents WHERE id = %(id)s", {"id": doc[0]})  # type: ignore[index]

        def without_bm25(fn: Callable[[], float]) -> Callable[[], float]:
            def run() -> float:
                conn.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_terms_insert")
                conn.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_terms_delete")
                conn.execute("ALTER TABLE chunk_terms DROP CONSTRAINT chunk_terms_chunk_id_fkey")
                return fn()
            return run

        out: dict[str, Any] = {}
        steps = [("insert", insert), ("insert_without_bm25", without_bm25(insert))]
        if doc is not None:
            steps += [("delete", delete), ("delete_without_bm25", without_bm25(delete))]
        for label, fn in steps:
            times = [rolled_back(conn, fn) for _ in range(reps)]
            out[f"{label}_ms"] = spread(times)
    return out


def normalise_evidence(refs: Sequence[str], known: set[str]) -> set[str]:
    """'D8:6; D9:17' and 'D30:05' as dia_ids that exist (the rest are skipped, as the locomo benchmark does)."""
    found: set[str] = set()
    for ref in refs:
        for part in str(ref).replace(",", ";").split(";"):
            m = _DIA.match(part.strip())
            if m and (dia := f"D{int(m.group(1))}:{int(m.group(2))}") in known:
                found.add(dia)
    return found


# Keyword-only namespaces still need vectors of a registered model: a constant one.
CONSTANT_MODEL = ModelSpec("bench-constant", "1", 384, lambda: None)  # type: ignore[arg-type,return-value]


def constant_vectors(n: int) -> np.ndarray:
    """The same unit vector for every chunk: keyword search never reads it."""
    v = np.zeros((n, 384), dtype=np.float32)
    v[:, 0] = 1.0
    return v


def locomo_quality(url: str, locomo: str | None, k: int) -> dict[str, Any]:
    """Evidence recall@k, keyword only, per option; each conversation in its own namespace, one chunk per turn."""
    data = load_locomo(locomo)
    recalls: dict[str, list[float]] = {"postgres_bm25": [], "bm25s": [], "postgres_ts_rank_cd_or": []}
    with psycopg.connect(url, autocommit=True) as conn:
        for conv in data:
            sid, c = str(conv["sample_id"]), conv["conversation"]
            turns = [(str(t["dia_id"]), turn_text(t)) for n in session_numbers(c) for t in c[f"session_{n}"]]
            name = f"bm25cmp-locomo-{sid}"
            row = conn.execute("SELECT id FROM namespaces WHERE name = %(n)s", {"n": name}).fetchone()
            if row is None:
                model = register(conn, CONSTANT_MODEL)
                ns_id = create_namespace(conn, name, model.id).id
                docs = [PlannedDoc(f"locomo:{sid}/{dia}", dia, text, (text,)) for dia, text in turns]
                load_namespace(conn, ns_id, docs, constant_vectors(len(docs)), model, log=open(os.devnull, "w"))
                conn.execute("ANALYZE chunks")
            else:
                ns_id = row[0]
            dia_of = {r[0]: r[1] for r in conn.execute(
                "SELECT c.id, d.title FROM chunks c JOIN documents d ON d.id = c.document_id"
                " WHERE c.namespace_id = %(ns)s", {"ns": ns_id}).fetchall()}
            index = Bm25s([text for _, text in turns])
            known = {dia for dia, _ in turns}
            for qa in conv["qa"]:
                if qa.get("category") not in (1, 2, 3, 4):
                    continue
                evidence = normalise_evidence(qa.get("evidence") or [], known)
                if not evidence:
                    continue
                q = str(qa["question"])
                found = {
                    "postgres_bm25": [dia_of[i] for i in db_top(conn, ns_id, q, k)],
                    "bm25s": [turns[i][0] for i in index.top(q, k)],
                    "postgres_ts_rank_cd_or": [dia_of[i] for i in fts_top(conn, ns_id, q, k)],
                }
                for option, got in found.items():
                    recalls[option].append(len(evidence & set(got[:k])) / len(evidence))
    return {"questions": len(recalls["bm25s"]), **{o: round(statistics.fmean(r), 4) for o, r in recalls.items()}}


def table(result: dict[str, Any]) -> str:
    lat, k = result["latency"], result["config"]
    lines = [f"keyword search at {k['chunks']:,} chunks ({k['queries']} queries; load "
             f"{result['environment']['loadavg_before'][0]:.1f} -> {result['environment']['loadavg_after'][0]:.1f})",
             f"{'':<34}" + "".join(f"{'top-' + str(n) + ' p50':>12}{'p95':>8}" for n in k["ks"])]
    for option in lat[str(k["ks"][0])]:
        lines.append(f"{option:<34}" + "".join(f"{lat[str(n)][option]['p50']:>12.2f}{lat[str(n)][option]['p95']:>8.2f}"
                                             for n in k["ks"]))
    b, w = result["build"], result["writes"]
    lines += ["", "build / memory / update",
              f"bm25s: tokenize+index {b['bm25s_build_s']:.1f} s, RSS +{b['bm25s_rss_mib']:.0f} MiB in this process;"
              " no incremental update (rebuild per write batch)",
              f"postgres: to_tsvector {b['to_tsvector_s']:.1f} s; postings build {b['postings_build_s']:.1f} s,"
              f" {b['postings_rows']:,} rows, {b['postings_mib']:.0f} MiB on disk; GIN build {b['gin_build_s']:.1f} s,"
              f" {b['gin_mib']:.0f} MiB",
              "one 10-chunk document (ms p50/p95): " + ", ".join(
                  f"{key.removesuffix('_ms')} {v['p50']:.1f}/{v['p95']:.1f}" for key, v in w.items())]
    q = result["locomo"]
    lines += ["", f"LoCoMo evidence recall@{k['quality_k']}, keyword only ({q['questions']} questions, 10 conversations)"]
    lines += [f"{o:<34}{q[o]:>8.3f}" for o in ("postgres_bm25", "bm25s", "postgres_ts_rank_cd_or")]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bm25_compare", description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=100_000, help="chunks in the searched namespace (default 100000)")
    p.add_argument("--small-chunks", type=int, default=None, help="chunks in a second namespace (default chunks/10)")
    p.add_argument("--queries", type=int, default=200, help="latency queries (default 200)")
    p.add_argument("--chunk-tokens", type=int, default=CHUNK_TOKENS,
                   help=f"chunk size for documents (default {CHUNK_TOKENS}; see benchmarks/scale_data.py)")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--database-url", default=None, help="PostgreSQL to use; loaded namespaces are reused")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    settings = Settings()
    small = args.small_chunks if args.small_chunks is not None else args.chunks // 10
    plan: Plan = build_plan({"main": args.chunks} | ({"small": small} if small else {}), args.chunk_tokens,
                            args.locomo)
    qs = [q for _, q in queries(plan, "main", args.locomo, args.queries)]
    texts = [c for d in plan.namespaces["main"] for c in d.chunks]
    load_before = os.getloadavg()
    with (nullcontext(args.database_url) if args.database_url else embedded_database()) as url:
        ids, load = prepare_database(url, plan, constant_vectors(len(plan.texts())), CONSTANT_MODEL, f"bm25cmp-{plan.key}-")
        print(f"database ready: {load}", file=sys.stderr, flush=True)
        ns = ids["main"]
        gc.collect()
        rss = rss_mib()
        t = time.perf_counter()
        index = Bm25s(texts)
        build_s = time.perf_counter() - t
        gc.collect()
        bm25s_rss = rss_mib() - rss
        ks = (10, 50)
        lat: dict[str, Any] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            for k in ks:
                lat[str(k)] = latency(qs, {
                    "postgres_bm25 (keyword_hits)": lambda q, k=k: db_top(conn, ns, q, k),
                    "bm25s (in process)": lambda q, k=k: index.top(q, k),
                    "postgres ts_rank_cd, OR query": lambda q, k=k: fts_top(conn, ns, q, k),
                })
        del index
        build = {"bm25s_build_s": round(build_s, 1), "bm25s_rss_mib": round(bm25s_rss, 1)} | build_costs(url, ns)
        writes = write_costs(url, ns)
        quality = locomo_quality(url, args.locomo, 10)
    result = {
        "benchmark": "bm25_compare",
        "config": {"chunks": args.chunks, "small_chunks": small, "queries": len(qs), "ks": list(ks), "quality_k": 10,
                   "plan": plan.key, "load": load},
        "environment": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "latency": lat, "build": build, "writes": writes, "locomo": quality,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
