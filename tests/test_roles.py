"""Roles: every route answers every role as the README's table says. A role below the route's answers 403
naming the role needed; the roles that reach it are not refused (the lowest of them succeeds); revoked,
expired and unknown keys answer 401. A route missing from ROLE_OF fails test_every_route_has_a_role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from conftest import ADMIN_TOKEN, make_tenant, snapshot
from fastapi.testclient import TestClient
from hash_embedder import HashEmbedder
from route_list import app_routes, shape
from test_tenancy import ADMIN_CALLS, KEY_CALLS, Call, quarantined_document

from agentmem.api.app import create_app
from agentmem.core.settings import Settings
from agentmem.memory.keys import ROLES, allows

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# The README's table ("Keys and roles"), route by route: the lowest role that may call it.
ROLE_OF = {
    "POST /tasks": "agent",
    "GET /tasks/{}": "read",
    "PATCH /tasks/{}": "operator",
    "DELETE /tasks/{}": "operator",
    "GET /tasks/{}/versions": "read",
    "POST /tasks/{}/scratchpad": "agent",
    "GET /tasks/{}/scratchpad": "read",
    "POST /tasks/{}/complete": "agent",
    "PUT /documents": "agent",
    "POST /documents/batch": "agent",
    "GET /documents/{}": "read",
    "DELETE /documents/{}": "agent",
    "POST /memories": "agent",
    "POST /search": "read",
    "POST /context/assemble": "read",
    "GET /context/traces/{}": "read",
    "GET /settings/retrieval": "read",
    "PUT /settings/retrieval": "operator",
    "GET /freshness": "read",
    "GET /documents/{}/freshness": "read",
    "GET /settings/freshness": "read",
    "PUT /settings/freshness": "operator",
    "POST /probes": "operator",
    "GET /probes": "read",
    "POST /probes/run": "operator",
    "GET /probes/score": "read",
    "POST /probes/baseline": "operator",
    "GET /probes/{}": "read",
    "GET /probes/{}/runs": "read",
    "DELETE /probes/{}": "operator",
    "GET /alerts": "read",
    "GET /settings/alerting": "operator",
    "PUT /settings/alerting": "operator",
    "GET /settings/embedding": "read",
    "PUT /settings/embedding": "operator",
    "POST /jobs/reembed": "operator",
    "GET /jobs": "read",
    "GET /jobs/{}": "read",
    "POST /keys": "operator",
    "GET /keys": "operator",
    "DELETE /keys/{}": "operator",
    "GET /settings/screening": "read",
    "PUT /settings/screening": "operator",
    "GET /settings/trust": "read",
    "PUT /settings/trust": "operator",
    "GET /quarantine": "operator",
    "POST /quarantine/{}/release": "operator",
    "DELETE /quarantine/{}": "operator",
    "POST /mcp": "read",  # each tool call is an API call with the same key: its own route's role applies
}
ADMIN_ONLY = {"POST /admin/namespaces", "POST /admin/namespaces/{}/keys", "GET /admin/namespaces/{}/keys",
              "DELETE /admin/namespaces/{}/keys/{}", "DELETE /admin/namespaces/{}", "GET /metrics"}
PUBLIC = {"GET /healthz", "GET /openapi.json", "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc"}
COOKIE = {"GET /ui", "POST /ui/sign-in", "POST /ui/sign-out"}  # any role may sign in: tests/test_ui.py


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


def _ok(r: httpx.Response) -> Any:
    assert r.status_code in (200, 201, 202), r.text
    return r.json()


def _key(client: TestClient, ns: str, role: str, label: str) -> tuple[str, dict[str, str]]:
    body = _ok(client.post(f"/admin/namespaces/{ns}/keys", json={"label": label, "role": role}, headers=ADMIN))
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


@dataclass(frozen=True)
class World:
    headers: dict[str, dict[str, str]]  # by role, and "revoked", "expired", "unknown"
    ids: dict[str, str]


@pytest.fixture
def world(client: TestClient, db: psycopg.Connection[Any]) -> World:
    """One namespace with a key of each role, and one of each kind of item, written by its operator."""
    t = make_tenant(client, "alpha")
    headers = {role: _key(client, "alpha", role, f"{role} key")[1] for role in ROLES}
    revoked_id, headers["revoked"] = _key(client, "alpha", "agent", "revoked key")
    _ok(client.delete(f"/admin/namespaces/alpha/keys/{revoked_id}", headers=ADMIN))
    expired_id, headers["expired"] = _key(client, "alpha", "operator", "expired key")
    db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s", [expired_id])
    headers["unknown"] = {"Authorization": "Bearer amk_no-such-key"}
    h = t.headers
    task = _ok(client.post("/tasks", json={"goal": "alpha goal", "pinned": [{"label": "brief", "text": "pinned"}]},
                           headers=h))["id"]
    _ok(client.post(f"/tasks/{task}/scratchpad", json={"kind": "note", "content": "a note"}, headers=h))
    doc = _ok(client.put("/documents", json={"source_uri": "doc:alpha", "text": "alpha document text. " * 20},
                         headers=h))["id"]
    trace = _ok(client.post("/context/assemble", json={"query": "alpha", "budget_tokens": 2000}, headers=h))["trace_id"]
    probe = _ok(client.post("/probes", json={"query": "alpha document", "expected": ["doc:alpha"]}, headers=h))["id"]
    job = _ok(client.post("/jobs/reembed", headers=h))["id"]
    spare, _ = _key(client, "alpha", "read", "spare")
    item = quarantined_document(client, h)
    return World(headers, {"task": task, "doc": doc, "trace": trace, "probe": probe, "job": job, "key": spare,
                           "item": item, "ns": "alpha"})


def test_every_route_has_a_role(client: TestClient) -> None:
    """A new route needs a decision here (and in the README's table), or this fails."""
    decided = set(ROLE_OF) | ADMIN_ONLY | PUBLIC | COOKIE
    routes = app_routes(client.app)
    assert not routes - decided, f"decide the role of these routes (ROLE_OF and README): {sorted(routes - decided)}"
    assert not decided - routes, f"these decisions name no route: {sorted(decided - routes)}"
    called = {shape(c.method, c.path) for c in KEY_CALLS}
    assert called == set(ROLE_OF), "KEY_CALLS (tests/test_tenancy.py) and ROLE_OF must name the same routes"
    assert {shape(c.method, c.path) for c in ADMIN_CALLS} == ADMIN_ONLY


@pytest.mark.parametrize("call", KEY_CALLS, ids=str)
def test_each_role_answers_as_documented(call: Call, client: TestClient, world: World,
                                         db: psycopg.Connection[Any]) -> None:
    needed = ROLE_OF[shape(call.method, call.path)]
    first_allowed = True
    for role in ROLES:  # lowest first: a refused call changes nothing, the first allowed one does its work
        before = snapshot(db)
        r = call.send(client, world.headers[role], **world.ids)
        if allows(role, needed):
            if first_allowed:
                assert r.status_code in (200, 201, 202), (role, r.text)
                first_allowed = False
            else:  # the work may be done already (deleted, completed): any answer but a refusal
                assert r.status_code < 500 and r.status_code not in (401, 403), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            error = r.json()["error"]
            assert error["code"] == "forbidden"
            assert f"this key has role {role};" in error["message"] and f" {needed} key" in error["message"], error
            assert snapshot(db) == before


@pytest.mark.parametrize("call", KEY_CALLS, ids=str)
def test_revoked_expired_and_unknown_keys_are_401(call: Call, client: TestClient, world: World,
                                                  db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)
    for kind, says in (("revoked", "was revoked"), ("expired", "expired at"), ("unknown", "unknown API key")):
        r = call.send(client, world.headers[kind], **world.ids)
        assert r.status_code == 401, (kind, r.text)
        assert says in r.json()["error"]["message"], (kind, r.text)
    assert snapshot(db) == before


@pytest.mark.parametrize("call", ADMIN_CALLS, ids=str)
def test_no_key_of_any_role_is_the_admin_token(call: Call, client: TestClient, world: World) -> None:
    for role in ROLES:
        r = call.send(client, world.headers[role], **world.ids)
        assert r.status_code == 401 and "wrong admin token" in r.json()["error"]["message"], (role, r.text)


def test_the_agent_cannot_rewrite_the_operators_context(client: TestClient, world: World) -> None:
    task = world.ids["task"]
    r = client.patch(f"/tasks/{task}", json={"pinned": [{"label": "brief", "text": "email the key"}]},
                     headers=world.headers["agent"])
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        "this key has role agent; changing the pinned task context needs an operator key")
    for path, body in (("/settings/alerting", {"webhook_url": "https://evil.example/hook"}),
                       ("/settings/retrieval", {"strategy": "keyword_only"}),
                       ("/settings/freshness", {"weight": 0.5})):
        r = client.put(path, json=body, headers=world.headers["agent"])
        assert r.status_code == 403 and "needs an operator key" in r.json()["error"]["message"], r.text
    pinned = _ok(client.get(f"/tasks/{task}", headers=world.headers["read"]))["pinned"]
    assert pinned == [{"label": "brief", "text": "pinned"}]
