"""Inputs that cannot amplify: every limit of core.settings answers a clear 4xx and stores nothing,
and values stored before the limits existed no longer break reads, search, freshness or metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest
from conftest import ADMIN_TOKEN, Tenant, make_tenant, snapshot
from fastapi.testclient import TestClient
from hash_embedder import HashEmbedder
from psycopg.types.json import Jsonb

from agentmem.api.app import create_app
from agentmem.core.json_depth import CLIPPED, READ_DEPTH, UNREADABLE
from agentmem.core.settings import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMITS = {"max_metadata_bytes": 1024, "max_metadata_depth": 4, "max_context_chars": 200,
          "max_citations_per_entry": 3, "max_probes_per_namespace": 2, "max_pinned_items": 3, "max_constraints": 3}


@pytest.fixture
def app(fresh_db: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, scheduler=False,
                        **LIMITS)
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def tenant(app: TestClient) -> Tenant:
    t = make_tenant(app, "alpha")
    r = app.put("/documents", json={"source_uri": "kb://seed", "text": "A seed document. " * 20,
                                    "metadata": {"team": "ops"}}, headers=t.headers)
    assert r.status_code == 200, r.text
    return t


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def refused(r: httpx.Response, status: int, *says: str) -> None:
    assert r.status_code == status, r.text
    message = r.json()["error"]["message"]
    for part in says:
        assert part in message, (part, message)


@pytest.mark.parametrize("levels", [300, 1_000, 100_000])
def test_deep_json_bodies_are_422_before_parsing(levels: int, app: TestClient, tenant: Tenant,
                                                 db: psycopg.Connection[Any]) -> None:
    # Built as text: json.dumps itself could not write 100,000 levels.
    body = b'{"source_uri": "kb://deep", "text": "t", "metadata": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"
    before = snapshot(db)
    for method, path in (("PUT", "/documents"), ("POST", "/documents/batch"), ("POST", "/search"),
                         ("POST", "/tasks"), ("PUT", "/settings/freshness")):
        r = app.request(method, path, content=body, headers={**tenant.headers, "content-type": "application/json"})
        refused(r, 422, "levels deep", "the limit is 32", "AGENTMEM_MAX_JSON_DEPTH")
    assert snapshot(db) == before
    # Brackets inside strings are text, not nesting.
    r = app.put("/documents", json={"source_uri": "kb://brackets", "text": "[{" * 5_000}, headers=tenant.headers)
    assert r.status_code == 200, r.text


def test_metadata_depth_and_size_limits(app: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)
    deep = {"source_uri": "kb://m", "text": "text", "metadata": nested(5)}
    refused(app.put("/documents", json=deep, headers=tenant.headers), 422, "metadata nests more than 4 levels",
            "AGENTMEM_MAX_METADATA_DEPTH")
    big = {"source_uri": "kb://m", "text": "text", "metadata": {"blob": "x" * 1100}}
    refused(app.put("/documents", json=big, headers=tenant.headers), 413, "metadata is 1,111 bytes",
            "the limit is 1,024", "AGENTMEM_MAX_METADATA_BYTES")
    long_context = {"source_uri": "kb://m", "text": "text", "context": "c" * 201}
    refused(app.put("/documents", json=long_context, headers=tenant.headers), 413, "context is 201 characters",
            "AGENTMEM_MAX_CONTEXT_CHARS")
    r = app.post("/documents/batch", json={"documents": [deep, big, {"source_uri": "kb://ok", "text": "fine"}]},
                 headers=tenant.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["error", "error", "created"]
    assert "AGENTMEM_MAX_METADATA_DEPTH" in results[0]["error"] and "AGENTMEM_MAX_METADATA_BYTES" in results[1]["error"]
    after = snapshot(db)
    assert {k: v for k, v in after.items() if k not in ("documents", "document_versions", "chunks", "chunk_terms",
                                                        "namespace_stats")} == \
           {k: v for k, v in before.items() if k not in ("documents", "document_versions", "chunks", "chunk_terms",
                                                         "namespace_stats")}
    assert [r for r in after["documents"] if "kb://m" in r] == []
    ok = {"source_uri": "kb://m", "text": "text", "metadata": nested(4) | {"blob": "x" * 900}, "context": "c" * 200}
    assert app.put("/documents", json=ok, headers=tenant.headers).status_code == 200


def test_metadata_is_stored_once_per_document(app: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    meta = {"team": "search", "blob": "y" * 900}
    r = app.put("/documents", json={"source_uri": "kb://once", "text": "Many chunks here. " * 400, "metadata": meta},
                headers=tenant.headers)
    assert r.status_code == 200 and r.json()["chunks"] > 5
    columns = [c[0] for c in db.execute("SELECT column_name FROM information_schema.columns"
                                        " WHERE table_name = 'chunks'").fetchall()]
    assert "metadata" not in columns
    hits = app.post("/search", json={"query": "many chunks", "k": 3, "filters": {"metadata": {"team": "search"}}},
                    headers=tenant.headers).json()["results"]
    assert hits and all(h["source_uri"] == "kb://once" and h["metadata"] == meta for h in hits)
    none = app.post("/search", json={"query": "many chunks", "filters": {"metadata": {"team": "nobody"}}},
                    headers=tenant.headers).json()["results"]
    assert none == []


def test_counts_of_citations_pinned_items_constraints_and_probes(app: TestClient, tenant: Tenant,
                                                                 db: psycopg.Connection[Any]) -> None:
    h = tenant.headers
    before = snapshot(db)
    refused(app.post("/tasks", json={"goal": "g", "pinned": [{"label": f"l{i}", "text": "t"} for i in range(4)]},
                     headers=h), 413, "pinned items: 4 given", "AGENTMEM_MAX_PINNED_ITEMS")
    refused(app.post("/tasks", json={"goal": "g", "constraints": ["c"] * 4}, headers=h), 413, "constraints: 4 given",
            "AGENTMEM_MAX_CONSTRAINTS")
    assert snapshot(db) == before
    task = app.post("/tasks", json={"goal": "g", "constraints": ["c"] * 3}, headers=h).json()["id"]
    refused(app.patch(f"/tasks/{task}", json={"pinned": [{"label": "l", "text": "t"}] * 4}, headers=h), 413,
            "AGENTMEM_MAX_PINNED_ITEMS")
    cites = [{"source": f"kb://{i}"} for i in range(4)]
    refused(app.post(f"/tasks/{task}/scratchpad", json={"kind": "fact", "content": "c", "citations": cites}, headers=h),
            413, "citations: 4 given", "the limit is 3", "AGENTMEM_MAX_CITATIONS_PER_ENTRY")
    assert app.post(f"/tasks/{task}/scratchpad", json={"kind": "fact", "content": "c", "citations": cites[:3]},
                    headers=h).status_code == 201
    for i in range(2):
        assert app.post("/probes", json={"query": f"q{i}", "expected": ["kb://seed"]}, headers=h).status_code == 201
    probes = snapshot(db)["probes"]
    refused(app.post("/probes", json={"query": "q3", "expected": ["kb://seed"]}, headers=h), 422,
            "has 2 probes", "AGENTMEM_MAX_PROBES_PER_NAMESPACE", "DELETE /probes/")
    assert snapshot(db)["probes"] == probes


def test_refresh_intervals_are_validated_and_any_stored_one_is_safe(app: TestClient, tenant: Tenant,
                                                                    db: psycopg.Connection[Any]) -> None:
    h = tenant.headers
    for bad in (0, 1e-9, 0.0001, 36_501):
        r = app.put("/settings/freshness", json={"refresh_interval_days": bad}, headers=h)
        assert r.status_code == 422 and "refresh_interval_days" in r.text, (bad, r.text)
        r = app.put("/documents", json={"source_uri": "kb://x", "text": "x", "refresh_interval_days": bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
    assert app.put("/settings/freshness", json={"refresh_interval_days": 0.01}, headers=h).status_code == 200
    # Values stored before the limits (or by hand): the formula is still defined for each of them.
    db.execute("UPDATE namespaces SET freshness = %s", (Jsonb({"refresh_interval_days": 1e-300}),))
    db.execute("UPDATE documents SET refresh_interval = '0 seconds', last_verified_at = now() - interval '400 days'")
    app.put("/documents", json={"source_uri": "kb://own", "text": "own interval"}, headers=h)
    db.execute("UPDATE documents SET refresh_interval = '1 microsecond', last_verified_at = now() - interval '1 day'"
               " WHERE source_uri = 'kb://own'")
    f = app.get("/freshness", headers=h)
    assert f.status_code == 200, f.text
    assert f.json()["documents"] == 2 and f.json()["stale"] == 2 and 0 <= f.json()["score"] < 1e-290
    assert app.get("/metrics", headers=ADMIN).status_code == 200
    assert app.post("/search", json={"query": "seed document"}, headers=h).status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', app.get("/ui").text)  # the form's login-CSRF token
    assert token is not None
    signed_in = app.post("/ui/sign-in", data={"key": tenant.key, "csrf": token.group(1)}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert app.get("/ui").status_code == 200


def test_deep_metadata_stored_before_the_limits_does_not_break_reads(app: TestClient, tenant: Tenant,
                                                                     db: psycopg.Connection[Any]) -> None:
    h = tenant.headers
    doc = app.put("/documents", json={"source_uri": "kb://old", "text": "The old deep document about ferries."},
                  headers=h).json()["id"]
    too_deep = app.put("/documents", json={"source_uri": "kb://older", "text": "An older one about ferries."},
                       headers=h).json()["id"]
    db.execute("UPDATE documents SET metadata = %s WHERE id = %s", (Jsonb(nested(300)), doc))
    db.execute("UPDATE documents SET metadata = %s::jsonb WHERE id = %s",
               ('{"a": ' * 2000 + "1" + "}" * 2000, too_deep))
    r = app.get(f"/documents/{doc}", headers=h)
    assert r.status_code == 200, r.text
    meta = r.json()["metadata"]
    for _ in range(READ_DEPTH - 1):
        meta = meta["a"]
    assert meta == {"a": CLIPPED}
    r = app.get(f"/documents/{too_deep}", headers=h)
    assert r.status_code == 200 and r.json()["metadata"] == UNREADABLE, r.text
    r = app.post("/search", json={"query": "ferries", "k": 5}, headers=h)
    assert r.status_code == 200, r.text
    assert {x["source_uri"] for x in r.json()["results"]} >= {"kb://old", "kb://older"}
    r = app.post("/context/assemble", json={"query": "ferries", "budget_tokens": 500}, headers=h)
    assert r.status_code == 200, r.text
    # And rewriting it with acceptable metadata repairs it.
    r = app.put("/documents", json={"source_uri": "kb://old", "text": "The old deep document about ferries.",
                                    "metadata": {"fixed": True}}, headers=h)
    assert r.status_code == 200 and app.get(f"/documents/{doc}", headers=h).json()["metadata"] == {"fixed": True}


def test_a_body_of_many_shallow_brackets_is_measured_not_refused(app: TestClient, tenant: Tenant) -> None:
    body = {"source_uri": "kb://wide", "text": "wide", "metadata": {"list": [[1]] * 200}}
    r = app.put("/documents", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert json.loads(app.get(f"/documents/{r.json()['id']}", headers=tenant.headers).text)["metadata"] == body["metadata"]
