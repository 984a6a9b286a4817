"""The `agentmem` command: serve, migrate, probe, bench."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.probes import RunReport


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agentmem.settings import Settings
    from api.app import create_app

    settings = Settings()
    if not settings.database_url:
        print(f"agentmem: embedded PostgreSQL in {settings.database_dir()}", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _migrate(_: argparse.Namespace) -> int:
    import psycopg

    from agentmem.database import check_pgvector, open_database
    from agentmem.migrate import applied_versions, migrate
    from agentmem.settings import Settings

    settings = Settings()
    database = open_database(settings.database_url, settings.data_dir)
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            check_pgvector(conn)
        applied = migrate(database.url)
        with psycopg.connect(database.url) as conn:
            versions = applied_versions(conn)
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
        print(f"database is at migration {versions[-1] if versions else 0:04d}")
    finally:
        database.close()
    return 0


def _probe(args: argparse.Namespace) -> int:
    """Run a namespace's probes now, on the database directly (no service needed), and print them."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    from agentmem.database import check_pgvector, open_database, open_pool
    from agentmem.errors import NotFound
    from agentmem.migrate import migrate
    from agentmem.services import Services
    from agentmem.settings import Settings
    from api.app import default_embedder
    from jobs import probe_store, probes
    from memory.namespaces import get_namespace

    settings = Settings()
    database = open_database(settings.database_url, settings.data_dir)
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            check_pgvector(conn)
        migrate(database.url)
        pool = open_pool(database.url, 1, 4)
        try:
            with pool.connection() as conn:
                try:
                    ns = get_namespace(conn, args.namespace)
                except NotFound as exc:
                    print(f"agentmem: {exc.message}", file=sys.stderr)
                    return 2
            with ThreadPoolExecutor(2) as executor:
                services = Services(pool=pool, embedder=default_embedder(settings), settings=settings,
                                    executor=executor)
                with pool.connection() as conn:
                    if not probe_store.list_probes(conn, ns.id):
                        print(f"agentmem: namespace {ns.name!r} has no probes; add some with POST /probes",
                              file=sys.stderr)
                        return 2
                job, ran_here = probes.run_now(services, ns.id, requested_by="cli")
                rep = probes.report(services, ns.id, job)
        finally:
            pool.close()
    finally:
        database.close()
    print(probe_table(rep))
    if not ran_here:
        print(f"job {job.id} is being run by another process ({job.done}/{job.total or '?'} probes so far)",
              file=sys.stderr)
        return 1
    return 0 if job.status == "done" else 1


def probe_table(rep: RunReport) -> str:
    """One line per probe, then the namespace score against its baseline and the alerts raised."""
    flagged = {a.probe_id for a in rep.alerts}
    rows = [("probe", "recall", "RR", "freshness", "alert")]
    for probe, run in rep.results:
        query = probe.query if len(probe.query) <= 48 else probe.query[:47] + "…"
        rows.append((query, f"{run.recall:.2f}", f"{run.reciprocal_rank:.2f}",
                     "-" if run.expected_freshness is None else f"{run.expected_freshness:.2f}",
                     "below threshold" if probe.id in flagged else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    score = "-" if rep.score is None else f"{rep.score:.2f}"
    baseline = "-" if rep.baseline is None else f"{rep.baseline.score:.2f} ({rep.baseline.how})"
    lines.append(f"score {score}  baseline {baseline}  job {rep.job.id} {rep.job.status}")
    lines.extend(f"ALERT {a.kind}: {a.message}" + (f" [webhook {a.webhook}]" if a.webhook else "") for a in rep.alerts)
    if rep.job.error:
        lines.append(f"job failed: {rep.job.error}")
    return "\n".join(lines)


# Benchmark name -> module with main(argv) -> int.
BENCHMARKS = {
    "ingest": "benchmarks.ingest",
    "chunk-size": "benchmarks.chunk_size",
    "locomo": "benchmarks.locomo",
    "scale": "benchmarks.scale",
}


def _bench(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(BENCHMARKS[args.name]).main(args.rest))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="agentmem", description="Memory and context service for LLM agents")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.set_defaults(func=_migrate)

    probe = sub.add_parser("probe", help="run a namespace's drift probes now and print recall, RR, freshness")
    probe.add_argument("--namespace", required=True, help="the namespace's name")
    probe.set_defaults(func=_probe)

    bench = sub.add_parser("bench", help="run a benchmark (prints a table, writes JSON)")
    bench.add_argument("name", choices=sorted(BENCHMARKS))
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
