"""The `agentmem` command: serve, migrate, bench."""

from __future__ import annotations

import argparse
import logging
import os
import sys


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


def _bench(args: argparse.Namespace) -> int:
    if args.name == "ingest":
        from benchmarks import ingest

        return ingest.main(args.rest)
    if args.name == "scale":
        from benchmarks import scale

        return scale.main(args.rest)
    print(f"unknown benchmark {args.name!r}", file=sys.stderr)
    return 2


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

    bench = sub.add_parser("bench", help="run a benchmark: ingest, scale")
    bench.add_argument("name", choices=["ingest", "scale"])
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
