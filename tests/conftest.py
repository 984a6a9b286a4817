"""Test fixtures: a real PostgreSQL with pgvector (embedded, or TEST_DATABASE_URL), a fresh database per test.

The schema is migrated once into a template database; each test gets its own copy of it
(CREATE DATABASE ... TEMPLATE), so tests never share state and never see each other's rows.
"""

from __future__ import annotations

from contextlib import contextmanager

import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from fastapi.testclient import TestClient

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
logging.getLogger("pgserver").setLevel(logging.WARNING)

from agentmem.core.migrate import migrate  # noqa: E402
from agentmem.core.settings import Settings  # noqa: E402
from agentmem.api.app import create_app  # noqa: E402

TEMPLATE = "agentmem_test_template"
ADMIN_TOKEN = "test-admin-token"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (works for socket and TCP URLs)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a server to create test databases on (its maintenance database)."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    from agentmem.core.database import start_embedded

    # Not under pytest's basetemp: the server runs as another system user, which pgserver lets through
    # the folders above its data, and every pytest session starting on the machine makes
    # /tmp/pytest-of-<user> private again (0700): a second suite at once stopped this one's server.
    folder = Path(tempfile.mkdtemp(prefix="agentmem-test-pg-"))
    database = start_embedded(folder / "pgdata")
    try:
        yield database.url
    finally:
        database.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = with_database(server_url, TEMPLATE)
    migrate(url)
    return url


@pytest.fixture
def fresh_db(server_url: str, template_url: str) -> Iterator[str]:
    """An empty database with the schema migrated; dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db(server_url: str) -> Iterator[str]:
    """A database with nothing in it, not even the schema."""
    name = f"e_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def embedder() -> Any:
    from agentmem.embeddings.minilm import load_minilm

    return load_minilm()


@pytest.fixture
def settings(fresh_db: str, tmp_path: Path) -> Settings:
    # No background scheduler in tests: a test runs jobs itself (jobs.worker.drain) to control timing.
    return Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, scheduler=False)


@pytest.fixture
def client(settings: Settings, embedder: Any) -> Iterator[TestClient]:
    app = create_app(settings, embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def db(fresh_db: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the test's database, for checking what the API stored."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        yield conn


@dataclass
class Tenant:
    name: str
    key: str
    headers: dict[str, str]


def make_tenant(client: TestClient, name: str) -> Tenant:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = client.post("/admin/namespaces", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    r = client.post(f"/admin/namespaces/{name}/keys", json={"label": "test"}, headers=admin)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    return Tenant(name=name, key=key, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def tenant(client: TestClient) -> Tenant:
    return make_tenant(client, "alpha")


@pytest.fixture
def other_tenant(client: TestClient) -> Tenant:
    return make_tenant(client, "beta")


TABLES = (
    "namespaces", "api_keys", "tasks", "task_versions", "scratchpad_entries",
    "documents", "document_versions", "chunks", "chunk_terms", "namespace_stats", "assemble_traces",
    "jobs", "probes", "probe_runs", "probe_scores", "alerts",
)


# A row as snapshots see it: all but the bookkeeping a request changes without changing data (a key's last use).
WATCHED = {"api_keys": "(t.id, t.namespace_id, t.label, t.key_hash, t.created_at, t.role, t.expires_at, t.revoked_at)"}


def snapshot(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Every row of every table, as text: compare two snapshots to prove a request changed nothing."""
    return {
        table: sorted(
            r[0] for r in db.execute(sql.SQL("SELECT {}::text FROM {} t").format(
                sql.SQL(WATCHED.get(table, "t")), sql.Identifier(table))).fetchall()
        )
        for table in TABLES
    }


@contextmanager
def hash_services(database_url: str, data_dir: Path, pool_size: int = 4, **overrides: Any) -> Iterator[Any]:
    """Services for running jobs in a test: the hash embedder, no scheduler (the test drains jobs)."""
    from concurrent.futures import ThreadPoolExecutor

    from agentmem.core.database import open_pool
    from agentmem.api.services import Services
    from agentmem.embeddings.models import default_model
    from agentmem.embeddings.registry import Embedders
    from hash_embedder import HashEmbedder

    settings = Settings(database_url=database_url, data_dir=data_dir, scheduler=False, **overrides)
    pool = open_pool(database_url, 1, pool_size)
    embedders = Embedders.of(HashEmbedder())
    try:
        with pool.connection() as conn:
            default = default_model(conn, embedders)
        with ThreadPoolExecutor(2) as executor:
            yield Services(pool=pool, embedders=embedders, settings=settings, default_model=default, executor=executor)
    finally:
        pool.close()
