"""What the bad-input tests share: the seeded namespace, the limited app, and how a refusal is checked."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from conftest import ADMIN_TOKEN, Tenant, make_tenant, snapshot
from hash_embedder import HashEmbedder

NUL = "\x00"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMITS = {"max_text_chars": 100, "max_scratchpad_chars": 50, "max_batch_documents": 5, "max_body_bytes": 4096}


@dataclass(frozen=True)
class Seed:
    client: TestClient
    tenant: Tenant
    task: str  # open
    done: str  # completed
    doc: str

    def send(self, method: str, path: str, body: Any = None, *, content: bytes | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """Send as the tenant (as the operator for /admin); `content` is sent raw, as JSON."""
        path = path.format(task=self.task, done=self.done, doc=self.doc, ns=self.tenant.name)
        auth = ADMIN if path.startswith("/admin") else self.tenant.headers
        if content is not None:
            headers = {"content-type": "application/json", **(headers or {})}
        return self.client.request(method, path, json=body, content=content, headers={**auth, **(headers or {})})


def _seed(client: TestClient) -> Seed:
    t = make_tenant(client, "alpha")
    task = client.post("/tasks", json={"goal": "the goal", "pinned": [{"label": "l", "text": "p"}]},
                       headers=t.headers).json()["id"]
    r = client.post(f"/tasks/{task}/scratchpad", json={"kind": "note", "content": "a note"}, headers=t.headers)
    assert r.status_code == 201, r.text
    done = client.post("/tasks", json={"goal": "finished"}, headers=t.headers).json()["id"]
    assert client.post(f"/tasks/{done}/complete", json={"summary": "all done"}, headers=t.headers).status_code == 200
    doc = client.put("/documents", json={"source_uri": "doc:1", "text": "First sentence. " * 6,
                                         "metadata": {"k": "v"}}, headers=t.headers).json()["id"]
    return Seed(client, t, task, done, doc)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """Refusals are about input, not meaning: the hash embedder keeps each test's set-up fast."""
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def seed(client: TestClient) -> Seed:
    return _seed(client)


@pytest.fixture
def limited(fresh_db: str, tmp_path: Path) -> Iterator[Seed]:
    """A seeded app with small limits (and small chunks, so short documents have several)."""
    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN,
                        chunk_tokens=16, scheduler=False, **LIMITS)
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as client:
        yield _seed(client)


@contextmanager
def unchanged(db: psycopg.Connection[Any]) -> Iterator[None]:
    before = snapshot(db)
    yield
    assert snapshot(db) == before


def refused(r: httpx.Response, status: int, code: str, *says: str) -> str:
    """Assert the error answer and that its message holds each of `says`; return the message."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    for part in says:
        assert part in error["message"], (part, error["message"])
    return str(error["message"])


def invalid(r: httpx.Response, field: str, *says: str) -> None:
    """422 invalid_input that names `field` (a dotted path) in its message and in its fields list."""
    message = refused(r, 422, "invalid_input", *says)
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, fields)
    assert field in message


BODY_CALLS = [
    ("POST", "/tasks"),
    ("PATCH", "/tasks/{task}"),
    ("POST", "/tasks/{task}/scratchpad"),
    ("POST", "/tasks/{task}/complete"),
    ("PUT", "/documents"),
    ("POST", "/documents/batch"),
    ("POST", "/memories"),
    ("POST", "/admin/namespaces"),
    ("POST", "/admin/namespaces/{ns}/keys"),
    ("POST", "/probes"),
    ("PUT", "/settings/alerting"),
]


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"{c[0]} {c[1]}" for c in cases]


def by_call(cases: list[tuple[Any, ...]]) -> Any:
    """Parametrize over the endpoints `cases` touch (one database each); the test loops over their cases."""
    calls = list(dict.fromkeys((c[0], c[1]) for c in cases))
    return pytest.mark.parametrize("call", calls, ids=_ids(calls))


def cases_of(cases: list[tuple[Any, ...]], call: tuple[str, str]) -> list[tuple[Any, ...]]:
    return [c for c in cases if (c[0], c[1]) == call]
