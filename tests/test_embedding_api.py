"""GET/PUT /settings/embedding and /jobs: a migration started, followed and finished over HTTP; bad
input answered 4xx; another namespace's jobs invisible."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from conftest import Tenant, make_tenant, snapshot
from agentmem.jobs import worker
from agentmem.jobs.kinds import HANDLERS
from reembed_helpers import NEW, OLD, assert_all_by, embedders


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedders=embedders()), raise_server_exceptions=False) as c:
        yield c


def _fill(client: TestClient, t: Tenant) -> tuple[str, str]:
    """Five documents and a task with one scratchpad entry: (task id, first document id)."""
    docs = []
    for i in range(5):
        r = client.put("/documents", json={"source_uri": f"doc:{i}", "text": f"Document {i}. " * 60}, headers=t.headers)
        assert r.status_code == 200, r.text
        docs.append(r.json()["id"])
    task = client.post("/tasks", json={"goal": "g"}, headers=t.headers).json()["id"]
    r = client.post(f"/tasks/{task}/scratchpad", json={"kind": "note", "content": "a note"}, headers=t.headers)
    assert r.status_code == 201, r.text
    return str(task), docs[0]


def _search_dims(client: TestClient, t: Tenant, db: psycopg.Connection[Any]) -> set[int]:
    r = client.post("/search", json={"query": "Document 2.", "mode": "vector", "k": 50}, headers=t.headers)
    assert r.status_code == 200, r.text
    ids = [h["id"] for h in r.json()["results"]]
    assert ids
    return {row[0] for row in db.execute("SELECT vector_dims(embedding) FROM chunks WHERE id = ANY(%s)", (ids,))}


def test_a_migration_over_http(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    task, doc_id = _fill(client, tenant)
    h = tenant.headers
    got = client.get("/settings/embedding", headers=h).json()
    assert got["active"] == {"name": OLD.name, "version": "1", "dimension": 384}
    assert got["target"] is None and got["migration"] is None and set(got["available"]) == {OLD.name, NEW.name}

    same = client.put("/settings/embedding", json={"model": OLD.name}, headers=h)
    assert same.status_code == 200 and same.json()["status"] == "unchanged" and same.json()["job"] is None

    r = client.put("/settings/embedding", json={"model": NEW.name}, headers=h)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "started" and body["target"]["dimension"] == 256 and body["job"]["status"] == "queued"
    again = client.put("/settings/embedding", json={"model": NEW.name}, headers=h)
    assert again.status_code == 202 and again.json()["job"]["id"] == body["job"]["id"]  # not duplicated
    assert client.post("/jobs/reembed", headers=h).json()["id"] == body["job"]["id"]

    progress = client.get("/settings/embedding", headers=h).json()
    assert progress["active"]["name"] == OLD.name and progress["target"]["name"] == NEW.name
    migration = progress["migration"]
    assert migration["chunks"] > 5 and migration["chunks_embedded"] == 0 and migration["entries"] == 1
    assert migration["job"]["id"] == body["job"]["id"]
    # Until the job has run, search answers from the old model's vectors; writes go on.
    assert _search_dims(client, tenant, db) == {384}
    assert client.put("/documents", json={"source_uri": "doc:late", "text": "Late. " * 30}, headers=h).status_code == 200

    assert worker.drain(client.app.state.services.jobs, "test-worker", HANDLERS) == 1  # type: ignore[attr-defined]
    job = client.get(f"/jobs/{body['job']['id']}", headers=h).json()
    assert job["status"] == "done" and job["done"] == job["total"] > 0 and job["result"]["flipped"]["to"]["name"] == NEW.name
    after = client.get("/settings/embedding", headers=h).json()
    assert after["active"]["name"] == NEW.name and after["target"] is None and after["migration"] is None
    assert _search_dims(client, tenant, db) == {256}
    doc = client.get(f"/documents/{doc_id}", headers=h).json()
    assert {(c["embedding_model"], c["embedding_model_version"]) for c in doc["chunks"]} == {(NEW.name, "1")}
    r = client.post("/context/assemble", json={"query": "a note", "budget_tokens": 500, "task_id": task}, headers=h)
    assert r.status_code == 200 and "a note" in r.text
    ns = db.execute("SELECT id FROM namespaces WHERE name = %s", (tenant.name,)).fetchone()[0]
    assert_all_by(client.app.state.services.settings.database_url, ns, NEW)  # type: ignore[attr-defined]


def test_jobs_are_listed_and_read_only_in_their_namespace(client: TestClient, tenant: Tenant,
                                                          other_tenant: Tenant) -> None:
    job = client.post("/jobs/reembed", headers=tenant.headers)
    assert job.status_code == 202 and job.json()["kind"] == "reembed" and job.json()["requested_by"] == "api"
    job_id = job.json()["id"]
    assert client.get(f"/jobs/{job_id}", headers=tenant.headers).json()["id"] == job_id
    assert [j["id"] for j in client.get("/jobs", headers=tenant.headers).json()] == [job_id]
    theirs = client.get(f"/jobs/{job_id}", headers=other_tenant.headers)
    missing = client.get(f"/jobs/{uuid.uuid4()}", headers=other_tenant.headers)
    assert theirs.status_code == missing.status_code == 404
    assert client.get("/jobs", headers=other_tenant.headers).json() == []
    own = client.post("/jobs/reembed", headers=other_tenant.headers).json()["id"]
    assert own != job_id  # one open job per namespace, not one for everyone


@pytest.mark.parametrize("call", [
    ("PUT", "/settings/embedding", {"model": "gpt-embeddings-9000"}, 422, "available: hash-test, hash-test-256"),
    ("PUT", "/settings/embedding", {"model": ""}, 422, "model"),
    ("PUT", "/settings/embedding", {"model": "   "}, 422, "whitespace"),
    ("PUT", "/settings/embedding", {"model": 7}, 422, "model"),
    ("PUT", "/settings/embedding", {"model": NEW.name, "now": True}, 422, "unknown field"),
    ("PUT", "/settings/embedding", {}, 422, "required"),
    ("PUT", "/settings/embedding", None, 422, "JSON object body is required"),
    ("GET", "/jobs/not-a-uuid", None, 422, "job_id"),
    ("GET", "/jobs?limit=0", None, 422, "limit"),
    ("GET", "/jobs?kind=everything", None, 422, "kind"),
], ids=lambda c: f"{c[0]} {c[1]} {c[2]}" if isinstance(c, tuple) else str(c))
def test_bad_input_is_refused_saying_what_to_fix(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any],
                                                 call: tuple[str, str, Any, int, str]) -> None:
    method, path, body, status, says = call
    before = snapshot(db)
    r = client.request(method, path, json=body, headers=tenant.headers)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]["message"], r.text
    assert snapshot(db) == before
    assert client.get("/settings/embedding", headers=tenant.headers).json()["target"] is None


def test_a_namespace_whose_model_is_not_configured_answers_503_not_500(
        client: TestClient, tenant: Tenant, settings: Settings) -> None:
    assert client.put("/documents", json={"source_uri": "d", "text": "some text"}, headers=tenant.headers).status_code == 200
    assert client.put("/settings/embedding", json={"model": NEW.name}, headers=tenant.headers).status_code == 202
    assert worker.drain(client.app.state.services.jobs, "w", HANDLERS) == 1  # type: ignore[attr-defined]
    # The same database served by a process that only has the old model.
    from hash_embedder import HashEmbedder

    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as other:
        tenant_b = make_tenant(other, "gamma")
        r = other.post("/search", json={"query": "some text"}, headers=tenant.headers)
        assert r.status_code == 503 and "hash-test-256" in r.json()["error"]["message"]
        assert other.post("/search", json={"query": "x"}, headers=tenant_b.headers).status_code == 200
