"""What the page reads from other concepts' tables: model status, probe histories, scores, alerts, per namespace."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.settings import Settings
from api.app import create_app
from api.ui.sources import ModelStatus, model_status, probe_histories, probe_score_history, recent_alerts
from conftest import Tenant
from hash_embedder import HashEmbedder
from ui_seed import add_alert, add_probe, add_scores, namespace_id


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


def _documents(client: TestClient, t: Tenant, n: int) -> None:
    for i in range(n):
        r = client.put("/documents", json={"source_uri": f"kb://{i}", "text": f"Document number {i}."},
                       headers=t.headers)
        assert r.status_code == 200, r.text


def _job(db: psycopg.Connection[Any], ns: int, status: str, done: int, total: int | None,
         error: str | None = None) -> None:
    db.execute("INSERT INTO jobs (kind, namespace_id, status, done, total, error) VALUES ('reembed', %s, %s, %s, %s, %s)",
               (ns, status, done, total, error))


def test_model_status_without_a_move(client: TestClient, tenant: Tenant, other_tenant: Tenant,
                                     db: psycopg.Connection[Any]) -> None:
    a = namespace_id(db, "alpha")
    assert model_status(db, a, "hash-test") == ModelStatus("hash-test", None, 0, 0)
    _documents(client, tenant, 3)
    _documents(client, other_tenant, 2)
    db.execute("UPDATE chunks SET embedding_model = 'old' WHERE namespace_id = %s", [namespace_id(db, "beta")])
    assert model_status(db, a, "hash-test") == ModelStatus("hash-test", None, 3, 3)


def test_model_status_during_a_move(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    _documents(client, tenant, 5)
    ns = namespace_id(db, "alpha")
    db.execute("UPDATE chunks SET embedding_model = 'old-model' WHERE namespace_id = %s", [ns])
    assert model_status(db, ns, "hash-test") == ModelStatus("old-model", "hash-test", 0, 5)
    db.execute("UPDATE chunks SET embedding_model = 'hash-test'"
               " WHERE id IN (SELECT id FROM chunks WHERE namespace_id = %s ORDER BY id LIMIT 2)", [ns])
    assert model_status(db, ns, "hash-test") == ModelStatus("old-model", "hash-test", 2, 5)
    # A running job reports its own progress; a finished or failed one leaves the chunk count.
    _job(db, ns, "failed", 1, 5, "boom")
    assert model_status(db, ns, "hash-test") == ModelStatus("old-model", "hash-test", 2, 5, "failed", "boom")
    _job(db, ns, "running", 40, 100)
    assert model_status(db, ns, "hash-test") == ModelStatus("old-model", "hash-test", 40, 100, "running")
    # With two old models, the one holding most vectors is the active one.
    db.execute("UPDATE chunks SET embedding_model = 'older-model'"
               " WHERE id = (SELECT max(id) FROM chunks WHERE namespace_id = %s)", [ns])
    assert model_status(db, ns, "hash-test").active == "old-model"


def test_probe_histories_are_per_namespace_oldest_first_and_limited(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, db: psycopg.Connection[Any]
) -> None:
    a, b = namespace_id(db, "alpha"), namespace_id(db, "beta")
    assert probe_histories(db, a) == []
    first = add_probe(db, a, "first", [0.1, 0.2, 0.3, 0.4], k=7, expected=["kb://x", "kb://y"])
    add_probe(db, b, "theirs", [0.9])
    second = add_probe(db, a, "second", [])
    got = probe_histories(db, a, limit=3)
    assert [(p.id, p.query, p.k) for p in got] == [(first, "first", 7), (second, "second", 5)]
    assert got[0].expected == ["kb://x", "kb://y"]
    assert [round(r.recall, 3) for r in got[0].runs] == [0.2, 0.3, 0.4]  # the latest 3, oldest first
    assert got[0].runs[0].ran_at < got[0].runs[-1].ran_at
    assert got[1].runs == []
    assert [p.query for p in probe_histories(db, b)] == ["theirs"]


def test_probe_scores_and_alerts_are_per_namespace_newest_kept(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, db: psycopg.Connection[Any]
) -> None:
    a, b = namespace_id(db, "alpha"), namespace_id(db, "beta")
    add_scores(db, a, [0.1, 0.2, 0.3], probes=4)
    add_scores(db, b, [0.9])
    scores = probe_score_history(db, a, limit=2)
    assert [round(s.score, 3) for s in scores] == [0.2, 0.3] and {s.probes for s in scores} == {4}
    probe = add_probe(db, a, "ferry", [0.4])
    theirs = add_probe(db, b, "tram", [0.4])
    add_alert(db, a, "older")
    add_alert(db, a, "newer", probe, kind="score_dropped")
    add_alert(db, b, "not yours", theirs)
    db.execute("UPDATE alerts SET created_at = created_at - interval '1 hour' WHERE message = 'older'")
    got = recent_alerts(db, a)
    assert [(x.message, x.kind, x.probe_query) for x in got] == [
        ("newer", "score_dropped", "ferry"), ("older", "probe_below_threshold", None)]
    assert [x.message for x in recent_alerts(db, a, limit=1)] == ["newer"]
    assert [x.message for x in recent_alerts(db, b)] == ["not yours"]
