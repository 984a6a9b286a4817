"""Cost of freshness reads as a namespace grows: GET /freshness, the /metrics freshness query and the
re-embedding job's hourly staleness check, at 10k and 100k chunks, before and after migration 0009.

Before: the SQL these used until 0009 (kept below, verbatim), which decided whether a document's
vectors were current by re-hashing every chunk's text (embedding_input_hash) on every call. After:
memory/freshness_store.py and embeddings/reembed.py, which read the `stale_chunks` rows the triggers
keep. Both run in the same process on the same data, interleaved, and must agree on every answer.

Data: documents of `--chunks-per-doc` chunks of ~100 words each, random unit vectors (no model),
loaded with COPY into a throwaway embedded PostgreSQL; 1% of documents get a chunk changed behind the
service's back, so both sides have stale documents to find. Run: `python -m benchmarks freshness-cost`.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from agentmem.api.in_thread import embedded_database
from agentmem.core.migrate import migrate
from agentmem.embeddings.models import input_hash
from agentmem.embeddings.reembed import due_namespaces
from agentmem.memory.freshness import FreshnessPolicy
from agentmem.memory.freshness_store import namespace_freshness
from agentmem.memory.hashing import content_hash
from agentmem.memory.namespaces import create_namespace

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "freshness_cost.json"
MODEL = "bench-random"
WORDS = ("ferry harbour timetable museum opening hours tram ticket castle bakery custard tile river bridge"
         " station platform market square garden library theatre").split()

# --- the baseline: the SQL of memory/freshness.py before migration 0009 -------------------------
OLD_INTERVAL = "coalesce(extract(epoch FROM d.refresh_interval) / 86400.0, %(default_days)s)"
OLD_VECTORS_CURRENT = (
    "NOT EXISTS (SELECT 1 FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    " JOIN namespaces n ON n.id = c.namespace_id WHERE c.document_id = d.id"
    " AND (CASE WHEN n.active_model_id IS NULL THEN m.name <> %(model)s ELSE c.embedding_model_id <> n.active_model_id END"
    "      OR c.embedded_hash <> embedding_input_hash(c.context, c.text)))"
)
OLD_SCORE = (
    f"CASE WHEN {OLD_VECTORS_CURRENT} THEN power(0.5, greatest(0, extract(epoch FROM now() - d.last_verified_at))"
    f" / 86400.0 / {OLD_INTERVAL}) ELSE 0 END"
)
OLD_DOC = (
    f"SELECT d.id AS document_id, d.source_uri, ({OLD_SCORE})::float8 AS score, {OLD_VECTORS_CURRENT} AS current,"
    f" ARRAY(SELECT DISTINCT m.name FROM chunks c JOIN embedding_models m ON m.id = c.embedding_model_id"
    f" WHERE c.document_id = d.id ORDER BY 1) AS embedding_models FROM documents d"
)
OLD_DUE = ("SELECT id FROM namespaces WHERE target_model_id IS NOT NULL UNION SELECT DISTINCT c.namespace_id"
           " FROM chunks c WHERE c.embedded_hash <> embedding_input_hash(c.context, c.text) ORDER BY 1")


def old_namespace_freshness(conn: psycopg.Connection[Any], ns: int, policy: FreshnessPolicy, worst: int
                            ) -> tuple[int, float | None, int, list[str]]:
    params = {"default_days": policy.refresh_interval_days, "model": MODEL, "ns": ns, "below": policy.stale_below,
              "n": worst}
    agg = conn.execute(f"SELECT count(*), avg(s), count(*) FILTER (WHERE s < %(below)s) FROM (SELECT ({OLD_SCORE}) AS s"
                       f" FROM documents d WHERE d.namespace_id = %(ns)s) x", params).fetchone()
    assert agg is not None
    rows = conn.execute(f"{OLD_DOC} WHERE d.namespace_id = %(ns)s ORDER BY score, d.last_verified_at, d.id LIMIT %(n)s",
                        params).fetchall() if worst else []
    return int(agg[0]), None if agg[1] is None else float(agg[1]), int(agg[2]), [r[1] for r in rows]


def new_namespace_freshness(conn: psycopg.Connection[Any], ns: int, policy: FreshnessPolicy, worst: int
                            ) -> tuple[int, float | None, int, list[str]]:
    f = namespace_freshness(conn, ns, policy, MODEL, worst)
    return f.documents, f.score, f.stale, [d.source_uri for d in f.worst]


# --- data -----------------------------------------------------------------------------------------
def load(conn: psycopg.Connection[Any], name: str, chunks: int, per_doc: int, model_id: int, seed: int) -> int:
    """A namespace of `chunks` chunks in documents of `per_doc`, loaded with COPY; returns its id."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    ns = create_namespace(conn, name).id
    conn.execute("UPDATE namespaces SET active_model_id = %s WHERE id = %s", (model_id, ns))
    vectors = nrng.standard_normal((1024, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = chunks // per_doc
    with conn.transaction(), conn.cursor() as cur:
        rows = []
        for i in range(docs):
            texts = [" ".join(rng.choice(WORDS) for _ in range(100)) for _ in range(per_doc)]
            rows.append((uuid.uuid4(), f"kb://{name}/{i}", texts, rng.randrange(90) + 0.5))  # half days: no document sits on the 0.5 threshold
        with cur.copy("COPY documents (id, namespace_id, source_uri, kind, text, content_hash, tokens,"
                      " last_verified_at) FROM STDIN") as copy:
            for doc_id, uri, texts, age in rows:
                text = "\n\n".join(texts)
                copy.write_row((doc_id, ns, uri, "document", text, content_hash(text), len(text) // 4,
                                f"{time.strftime('%Y-%m-%d %H:%M:%S+00', time.gmtime(time.time() - age * 86400))}"))
        with cur.copy("COPY chunks (namespace_id, document_id, kind, ord, text, tokens, embedding, embedding_model_id,"
                      " embedded_hash) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "uuid", "text", "int4", "text", "int4", "vector", "int4", "bytea"])
            k = 0
            for doc_id, _, texts, _ in rows:
                for ord_, text in enumerate(texts):
                    copy.write_row((ns, doc_id, "document", ord_, text, 128, vectors[k % len(vectors)], model_id,
                                    input_hash(text)))
                    k += 1
    # 1% of documents: a chunk's text changed behind the service's back (its vector is now stale).
    changed = [r[0] for r in rows[:: 100]]
    conn.execute("UPDATE chunks SET text = text || ' (edited)' WHERE document_id = ANY(%s) AND ord = 0", (changed,))
    return ns


def timed(fn: Callable[[int], Any], arg: int) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(arg)
    return (time.perf_counter() - started) * 1000, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks freshness-cost", description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--chunks-per-doc", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    policy = FreshnessPolicy()
    results: list[dict[str, Any]] = []
    with embedded_database() as url:
        migrate(url)
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            register_vector(conn)
            # Keyword statistics are beside the point here and cost most of the load: off in this throwaway database.
            conn.execute("ALTER TABLE chunks DISABLE TRIGGER chunks_terms_insert")
            model_id = conn.execute("INSERT INTO embedding_models (name, version, dimension) VALUES (%s, '1', 384)"
                                    " RETURNING id", (MODEL,)).fetchone()[0]  # type: ignore[index]
            namespaces = {}
            for i, n in enumerate(args.chunks):
                started = time.perf_counter()
                namespaces[n] = load(conn, f"bench{n}", n, args.chunks_per_doc, model_id, seed=i)
                print(f"loaded {n:,} chunks in {time.perf_counter() - started:.1f} s", flush=True)
            conn.execute("VACUUM ANALYZE")
            stale_rows = conn.execute("SELECT count(*) FROM stale_chunks").fetchone()[0]  # type: ignore[index]
            queries: dict[str, tuple[Callable[[int], Any], Callable[[int], Any]]] = {
                "GET /freshness (worst 10)": (lambda ns: old_namespace_freshness(conn, ns, policy, 10),
                                              lambda ns: new_namespace_freshness(conn, ns, policy, 10)),
                "/metrics freshness (per namespace)": (lambda ns: old_namespace_freshness(conn, ns, policy, 0),
                                                       lambda ns: new_namespace_freshness(conn, ns, policy, 0)),
                "staleness check (all namespaces)": (lambda ns: [r[0] for r in conn.execute(OLD_DUE)],
                                                     lambda ns: due_namespaces(conn)),
            }
            for n, ns in namespaces.items():
                for label, (old, new) in queries.items():
                    before, after = [], []
                    for r in range(args.repeats):
                        first, second = (old, new) if r % 2 == 0 else (new, old)
                        t1, a = timed(first, ns)
                        t2, b = timed(second, ns)
                        (before if first is old else after).append(t1)
                        (before if second is old else after).append(t2)
                        if not _agree(a, b):
                            raise AssertionError(f"{label} at {n:,}: before and after disagree: {a} != {b}")
                    results.append({"chunks": n, "documents": n // args.chunks_per_doc, "query": label,
                                    "before_ms": round(statistics.median(before), 2),
                                    "after_ms": round(statistics.median(after), 2)})
    print(f"\n{'chunks':>8} {'docs':>7}  {'query':<36} {'before ms':>10} {'after ms':>9} {'x':>6}")
    for r in results:
        print(f"{r['chunks']:>8,} {r['documents']:>7,}  {r['query']:<36} {r['before_ms']:>10.1f} {r['after_ms']:>9.1f}"
              f" {r['before_ms'] / max(r['after_ms'], 1e-3):>6.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "freshness-cost", "chunks_per_doc": args.chunks_per_doc, "repeats": args.repeats,
        "stale_chunk_rows": stale_rows, "machine": {"cpu": platform.processor() or platform.machine()},
        "results": results}, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def _agree(a: Any, b: Any) -> bool:
    """Equal answers, the mean score within 1e-4: the two calls read now() up to seconds apart."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        (da, sa, na, wa), (db, sb, nb, wb) = a, b
        close = sa == sb or (sa is not None and sb is not None and abs(sa - sb) < 1e-4)
        return (da, na, wa) == (db, nb, wb) and close
    return bool(a == b)
