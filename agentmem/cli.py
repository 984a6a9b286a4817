"""The `agentmem` command: serve, migrate, reembed, probe, mcp. (Benchmarks run from a checkout: `python -m benchmarks`.)"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentmem.core.settings import Settings
    from agentmem.jobs.probes import RunReport


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agentmem.api.app import create_app
    from agentmem.core.settings import Settings

    settings = Settings()
    if not settings.database_url:
        print(f"agentmem: embedded PostgreSQL in {settings.database_dir()}", file=sys.stderr)
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
        return 0
    return _serve_processes(args, settings)


def _serve_processes(args: argparse.Namespace, settings: Settings) -> int:
    """`--workers N`: N service processes on one port and one database (each with its own model copies,
    admission counts and thread pools; everything shared lives in PostgreSQL). The embedded database is
    started here, once, and the workers reach it by URL."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from agentmem.core.admin_token import resolve_admin_token
    from agentmem.core.database import open_database

    resolve_admin_token(settings)  # generated here once, not raced by the workers
    database = None if settings.database_url else open_database(None, settings.data_dir)
    if database is not None:
        os.environ["AGENTMEM_DATABASE_URL"] = database.url  # the workers' Settings() read it
    log = logging.getLogger("agentmem")
    log.info("%d service processes; every limit (AGENTMEM_NAMESPACE_IN_FLIGHT, AGENTMEM_MAX_IN_FLIGHT, ...) counts per "
             "process (README \"Several service processes\")", args.workers)
    warning = connection_budget_warning(args.workers, settings.pool_size(),
                                        _max_connections(database.url if database else settings.database_url))
    if warning:
        log.warning(warning)
    config = uvicorn.Config("agentmem.api.app:create_app", factory=True, workers=args.workers, host=args.host,
                            port=args.port, log_level=args.log_level)
    supervisor = Multiprocess(config, sockets=[_tcp_socket(config.bind_socket())])
    try:
        supervisor.run()
    except KeyboardInterrupt:
        pass
    finally:
        if database is not None:
            database.close()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        print("agentmem: a service process failed to start (its error is above); all were stopped", file=sys.stderr)
        return STARTUP_FAILURE
    return 0


def connection_budget_warning(workers: int, pool_size: int, max_connections: int | None) -> str | None:
    """What to change when N processes' pools could ask the server for more connections than it takes
    (each would then wait for a connection and answer 503 under load). None when they fit."""
    wanted = workers * pool_size
    if max_connections is None or wanted + RESERVED_CONNECTIONS <= max_connections:
        return None
    fits = max(1, (max_connections - RESERVED_CONNECTIONS) // workers)
    return (f"{workers} processes x a pool of {pool_size} connections = {wanted}, more than the database's "
            f"max_connections ({max_connections}) less {RESERVED_CONNECTIONS} kept for others: set "
            f"AGENTMEM_POOL_MAX_SIZE={fits} (or fewer processes, or raise max_connections)")


RESERVED_CONNECTIONS = 10  # migrations, `agentmem` commands, an operator's psql


def _max_connections(url: str | None) -> int | None:
    import psycopg

    if not url:
        return None
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SHOW max_connections").fetchone()
    except psycopg.Error:
        return None  # the processes will say what is wrong with the database when they start
    return int(row[0]) if row else None


def _tcp_socket(sock: socket.socket) -> socket.socket:
    """uvicorn's listening socket with its protocol named. uvicorn makes it with protocol 0, and asyncio
    sets TCP_NODELAY only on connections whose socket says IPPROTO_TCP: without it every response of a
    worker process waited ~40 ms for the client's delayed ACK (measured: GET /healthz 48 ms)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of processes, at least 1")
    return value


def _migrate(_: argparse.Namespace) -> int:
    import psycopg

    from agentmem.core.database import check_pgvector, open_database
    from agentmem.core.migrate import applied_versions, migrate
    from agentmem.core.settings import Settings

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


@contextmanager
def _offline_services(executor_threads: int) -> Iterator[Any]:
    """What a job needs, on the database directly (no service process): the database (embedded by
    default) checked and migrated, a pool, the model catalogue (models load when first used)."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    from agentmem.api.services import Services
    from agentmem.core.database import check_pgvector, open_database, open_pool
    from agentmem.core.migrate import migrate
    from agentmem.core.settings import Settings
    from agentmem.embeddings.catalog import service_embedders
    from agentmem.embeddings.models import default_model

    settings = Settings()
    database = open_database(settings.database_url, settings.data_dir)
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            check_pgvector(conn)
        migrate(database.url)
        pool = open_pool(database.url, 1, 4)
        try:
            embedders = service_embedders(settings)
            with pool.connection() as conn:
                default = default_model(conn, embedders)
            with ThreadPoolExecutor(executor_threads) as executor:
                yield Services(pool=pool, embedders=embedders, settings=settings, default_model=default,
                               executor=executor)
        finally:
            pool.close()
    finally:
        database.close()


def _probe(args: argparse.Namespace) -> int:
    """Run a namespace's probes now, on the database directly (no service needed), and print them."""
    from agentmem.core.errors import NotFound
    from agentmem.jobs import probe_store, probes
    from agentmem.memory.namespaces import get_namespace

    with _offline_services(2) as services, services.pool.connection() as conn:
        try:
            ns = get_namespace(conn, args.namespace)
        except NotFound as exc:
            print(f"agentmem: {exc.message}", file=sys.stderr)
            return 2
        if not probe_store.list_probes(conn, ns.id):
            print(f"agentmem: namespace {ns.name!r} has no probes; add some with POST /probes", file=sys.stderr)
            return 2
        job, ran_here = probes.run_now(services.jobs, ns.id, requested_by="cli")
        rep = probes.report(services.pool, ns.id, job)
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


def _reembed(args: argparse.Namespace) -> int:
    """Queue a namespace's re-embedding job (optionally to another model) and run it here, with a progress bar."""
    import threading
    import time

    from agentmem.core.errors import AgentmemError
    from agentmem.embeddings.reembed import start_migration
    from agentmem.jobs import queue, worker
    from agentmem.jobs.kinds import HANDLERS
    from agentmem.memory.namespaces import get_namespace

    with _offline_services(1) as services:
        pool = services.pool
        with pool.connection() as conn:
            try:
                ns = get_namespace(conn, args.namespace)
                if args.model:
                    start = start_migration(conn, services.embedders, services.default_model, ns.id, args.model)
                    print(f"namespace {ns.name}: {start.status} (active {start.models.active.name}"
                          + (f", target {start.models.target.name})" if start.models.target else ")"))
            except AgentmemError as exc:
                print(f"agentmem reembed: {exc.message}", file=sys.stderr)
                return 2
            job, _ = queue.enqueue(conn, "reembed", ns.id, {"model": args.model} if args.model else {}, "cli")
        # Run it here unless a live service process holds it already; either way, follow it.
        runner = threading.Thread(target=worker.run_one,
                                  args=(services.jobs, queue.worker_name(), {"reembed": HANDLERS["reembed"]}),
                                  kwargs={"job_id": job.id}, daemon=True)
        runner.start()
        while True:
            with pool.connection() as conn:
                current = queue.get(conn, ns.id, job.id)
            assert current is not None
            _draw_progress(current.done, current.total)
            if current.status in ("done", "failed"):
                break
            time.sleep(0.5)
        runner.join()
    print(file=sys.stderr)
    print(f"job {current.id}: {current.status}"
          + (f" {current.result}" if current.result else "") + (f" {current.error}" if current.error else ""))
    return 0 if current.status == "done" else 1


def _mcp(args: argparse.Namespace) -> int:
    """The MCP server over stdio, for a desktop agent: tools executed against the service at --url."""
    from agentmem.api.mcp.stdio import KEY_VARIABLE, run

    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        print(f"agentmem mcp: set {KEY_VARIABLE} to a key of your namespace (the agent's MCP configuration "
              "can pass it in 'env')", file=sys.stderr)
        return 2
    logging.getLogger("httpx").setLevel(logging.WARNING)  # stderr is the agent's log: one line per call is noise
    run(args.url, key)
    return 0


def _draw_progress(done: int, total: int | None, width: int = 30) -> None:
    if not total:
        print(f"\rreembed: {done} done", end="", file=sys.stderr, flush=True)
        return
    filled = min(width, width * done // total)
    print(f"\rreembed [{'#' * filled}{'.' * (width - filled)}] {100 * done // total:3d}% {done}/{total}",
          end="", file=sys.stderr, flush=True)


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
    serve.add_argument("--workers", type=_at_least_one, default=os.environ.get("AGENTMEM_WORKERS", "1"),
                       help="service processes (default: $AGENTMEM_WORKERS or 1; each loads its own models)")
    serve.set_defaults(func=_serve)

    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.set_defaults(func=_migrate)

    probe = sub.add_parser("probe", help="run a namespace's drift probes now and print recall, RR, freshness")
    probe.add_argument("--namespace", required=True, help="the namespace's name")
    probe.set_defaults(func=_probe)

    reembed = sub.add_parser("reembed", help="re-embed a namespace's stale vectors, or migrate it to another model")
    reembed.add_argument("--namespace", required=True, help="the namespace's name")
    reembed.add_argument("--model", default=None, help="migrate to this embedding model (see GET /settings/embedding)")
    reembed.set_defaults(func=_reembed)

    mcp = sub.add_parser("mcp", help="serve the MCP tools over stdio against a running service (key: AGENTMEM_API_KEY)")
    mcp.add_argument("--url", default=os.environ.get("AGENTMEM_URL", "http://127.0.0.1:8000"),
                     help="the service's base URL (default: $AGENTMEM_URL or http://127.0.0.1:8000)")
    mcp.set_defaults(func=_mcp)

    args = parser.parse_args(argv)
    from agentmem.core.errors import ConfigurationError

    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        print(f"agentmem: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
