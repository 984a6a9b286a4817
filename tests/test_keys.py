"""Key management: issue with a role and an expiry, list without secrets, revoke at once (in every
service process), expired keys refused, last use recorded cheaply; and provenance: items name their writer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from conftest import ADMIN_TOKEN, Tenant
from fastapi.testclient import TestClient
from hash_embedder import HashEmbedder

from agentmem.api.app import create_app
from agentmem.core.settings import Settings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


def _ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _issue(client: TestClient, body: dict[str, Any], ns: str = "alpha") -> dict[str, Any]:
    return _ok(client.post(f"/admin/namespaces/{ns}/keys", json=body, headers=ADMIN))  # type: ignore[no-any-return]


def test_a_key_has_the_role_and_expiry_it_was_issued_with(client: TestClient, tenant: Tenant) -> None:
    agent = _issue(client, {"label": "agent-1", "role": "agent", "expires_in_days": 30})
    assert agent["role"] == "agent" and agent["namespace"] == "alpha"
    expires = datetime.fromisoformat(agent["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    reader = _issue(client, {"label": "dashboard", "role": "read", "expires_at": at.isoformat()})
    assert datetime.fromisoformat(reader["expires_at"]) == at
    assert _issue(client, {"label": "ops"})["role"] == "operator"  # the default: what keys could do before roles


@pytest.mark.parametrize("body, says", [
    ({"label": "k", "role": "admin"}, "role"),
    ({"label": "k", "expires_in_days": 0}, "expires_in_days"),
    ({"label": "k", "expires_at": "2001-01-01T00:00:00Z"}, "in the past"),
    ({"label": "k", "expires_in_days": 1, "expires_at": "2999-01-01T00:00:00Z"}, "not both"),
])
def test_a_bad_key_request_is_422_saying_why(client: TestClient, tenant: Tenant, body: dict[str, Any],
                                            says: str) -> None:
    for path, headers in (("/admin/namespaces/alpha/keys", ADMIN), ("/keys", tenant.headers)):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 422 and says in r.json()["error"]["message"], r.text


def test_listing_shows_labels_roles_and_use_never_the_key(client: TestClient, tenant: Tenant,
                                                          db: psycopg.Connection[Any]) -> None:
    agent = _issue(client, {"label": "agent-1", "role": "agent"})
    _ok(client.get("/settings/retrieval", headers=_bearer(agent["key"])))
    for listing in (client.get("/admin/namespaces/alpha/keys", headers=ADMIN), client.get("/keys", headers=tenant.headers)):
        keys = _ok(listing)
        assert [k["label"] for k in keys] == ["test", "agent-1"]
        assert all(set(k) == {"id", "label", "role", "created_at", "expires_at", "last_used_at", "revoked_at"}
                   for k in keys)
        assert keys[1]["role"] == "agent" and keys[1]["last_used_at"] is not None and keys[1]["revoked_at"] is None
        hashes = [bytes(r[0]).hex() for r in db.execute("SELECT key_hash FROM api_keys")]
        for secret in (agent["key"], tenant.key, *hashes):
            assert secret not in listing.text


def test_a_revoked_key_is_401_on_its_next_request_in_every_process(settings: Settings, tenant: Tenant,
                                                                  db: psycopg.Connection[Any]) -> None:
    """Two service processes on one database (two apps here): revoking through one holds in the other."""
    with TestClient(create_app(settings, embedder=HashEmbedder())) as one, \
            TestClient(create_app(settings, embedder=HashEmbedder())) as two:
        agent = _issue(one, {"label": "agent-1", "role": "agent"})
        h = _bearer(agent["key"])
        for app in (one, two):
            _ok(app.post("/search", json={"query": "anything"}, headers=h))
        revoked = _ok(two.delete(f"/admin/namespaces/alpha/keys/{agent['id']}", headers=ADMIN))
        assert revoked["revoked_at"] is not None and revoked["label"] == "agent-1"
        for app in (one, two):
            r = app.post("/search", json={"query": "anything"}, headers=h)
            assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
        # Revoking again changes nothing; the row stays (its label names what the key wrote).
        assert _ok(one.delete(f"/admin/namespaces/alpha/keys/{agent['id']}", headers=ADMIN)) == revoked
        # An operator revokes keys of its own namespace only; the other keys keep working.
        reader = _issue(one, {"label": "reader", "role": "read"})
        _ok(one.delete(f"/keys/{reader['id']}", headers=tenant.headers))
        assert one.get("/keys", headers=_bearer(reader["key"])).status_code == 401
        _ok(two.get("/keys", headers=tenant.headers))
        assert db.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL").fetchone() == (2,)


def test_an_expired_key_is_401_saying_so(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    agent = _issue(client, {"label": "short-lived", "role": "agent", "expires_in_days": 1})
    _ok(client.get("/settings/retrieval", headers=_bearer(agent["key"])))
    db.execute("UPDATE api_keys SET expires_at = '2026-01-02 03:04:05+00' WHERE id = %s", [agent["id"]])
    r = client.get("/settings/retrieval", headers=_bearer(agent["key"]))
    assert r.status_code == 401
    assert r.json()["error"]["message"] == (
        "this API key expired at 2026-01-02 03:04:05 UTC; ask your operator for a new one")


def test_last_use_is_written_at_most_once_a_minute(client: TestClient, tenant: Tenant,
                                                   db: psycopg.Connection[Any]) -> None:
    def last_used() -> datetime | None:
        row = db.execute("SELECT last_used_at FROM api_keys WHERE label = 'test'").fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    assert last_used() is None
    _ok(client.get("/settings/retrieval", headers=tenant.headers))
    first = last_used()
    assert first is not None
    for _ in range(3):
        _ok(client.get("/settings/retrieval", headers=tenant.headers))
    assert last_used() == first  # within the minute: no write
    db.execute("UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds' WHERE label = 'test'")
    _ok(client.get("/settings/retrieval", headers=tenant.headers))
    later = last_used()
    assert later is not None and later > first


def test_an_operator_issues_keys_for_its_own_namespace_only(client: TestClient, tenant: Tenant,
                                                           other_tenant: Tenant) -> None:
    minted = _ok(client.post("/keys", json={"label": "agent-2", "role": "agent"}, headers=tenant.headers))
    assert minted["namespace"] == "alpha" and minted["role"] == "agent"
    assert [k["label"] for k in _ok(client.get("/keys", headers=other_tenant.headers))] == ["test"]
    r = client.post("/keys", json={"label": "escalate", "role": "operator"}, headers=_bearer(minted["key"]))
    assert r.status_code == 403 and "needs an operator key" in r.json()["error"]["message"]


def test_items_name_the_key_that_wrote_them(client: TestClient, tenant: Tenant) -> None:
    agent = _issue(client, {"label": "agent-1", "role": "agent"})
    h = _bearer(agent["key"])
    me = {"key_id": agent["id"], "label": "agent-1"}
    operator = {"key_id": _ok(client.get("/keys", headers=tenant.headers))[0]["id"], "label": "test"}
    task = _ok(client.post("/tasks", json={"goal": "find the ferry"}, headers=h))
    assert task["written_by"] == me
    patched = _ok(client.patch(f"/tasks/{task['id']}", json={"goal": "find the ferry, fast"}, headers=tenant.headers))
    assert patched["written_by"] == operator
    versions = _ok(client.get(f"/tasks/{task['id']}/versions", headers=h))
    assert [v["written_by"] for v in versions] == [me]  # version 1 was the agent's
    entry = _ok(client.post(f"/tasks/{task['id']}/scratchpad", json={"kind": "note", "content": "n"}, headers=h))
    assert entry["written_by"] == me
    assert [e["written_by"] for e in _ok(client.get(f"/tasks/{task['id']}/scratchpad", headers=h))] == [me]
    doc = _ok(client.put("/documents", json={"source_uri": "kb://ferry", "text": "The ferry leaves at 9."}, headers=h))
    memory = _ok(client.post("/memories", json={"kind": "fact", "text": "Ferries run hourly."}, headers=h))
    done = _ok(client.post(f"/tasks/{task['id']}/complete", json={"summary": "It leaves at 9."}, headers=h))
    assert done["task"]["written_by"] == operator  # completing does not rewrite the task's content
    # The label is looked up by the key's id: it still shows after the key is revoked.
    _ok(client.delete(f"/keys/{agent['id']}", headers=tenant.headers))
    for doc_id in (doc["id"], memory["id"], done["summary_document_id"]):
        assert _ok(client.get(f"/documents/{doc_id}", headers=tenant.headers))["written_by"] == me
