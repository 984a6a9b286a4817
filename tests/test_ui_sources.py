"""What the page reads from other concepts' tables: model status, probe histories, scores, alerts, per namespace."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from agentmem.api.ui.sources import ModelStatus, model_status
from agentmem.jobs.alerts import recent_lines as recent_alerts
from agentmem.jobs.probe_store import probe_histories
from agentmem.jobs.probe_store import score_trend as probe_score_history
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


def _target(db: psycopg.Connection[Any], ns: int, name: str) -> int:
    """Start a migration of `ns` to a model named `name` (as PUT /settings/embedding does)."""
    model = db.execute("INSERT INTO embedding_models (name, version, dimension) VALUES (%s, '1', 384)"
                       " ON CONFLICT (name, version) DO UPDATE SET dimension = 384 RETURNING id", [name]).fetchone()[0]
    db.execute("UPDATE namespaces SET target_model_id = %s WHERE id = %s", [model, ns])
    return int(model)


def test_model_status_without_a_move(client: TestClient, tenant: Tenant, other_tenant: Tenant,
                                     db: psycopg.Connection[Any]) -> None:
    a = namespace_id(db, "alpha")
    assert model_status(db, a, "hash-test") == ModelStatus("hash-test", None, 0, 0)
    _documents(client, tenant, 3)
    _documents(client, other_tenant, 2)
    _target(db, namespace_id(db, "beta"), "new")  # another namespace's migration
    assert model_status(db, a, "hash-test") == ModelStatus("hash-test", None, 3, 3)


def test_model_status_during_a_move(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    _documents(client, tenant, 5)
    ns = namespace_id(db, "alpha")
    target = _target(db, ns, "new-model")
    assert model_status(db, ns, "hash-test") == ModelStatus("hash-test", "new-model", 0, 5)
    db.execute("INSERT INTO pending_chunk_vectors (chunk_id, model_id, namespace_id, embedded_hash, embedding)"
               " SELECT id, %s, namespace_id, embedded_hash, embedding FROM chunks WHERE namespace_id = %s"
               " ORDER BY id LIMIT 2", [target, ns])
    assert model_status(db, ns, "hash-test") == ModelStatus("hash-test", "new-model", 2, 5)
    # The latest re-embedding job's status and error are shown with it.
    _job(db, ns, "failed", 1, 5, "boom")
    assert model_status(db, ns, "hash-test") == ModelStatus("hash-test", "new-model", 2, 5, "failed", "boom")
    _job(db, ns, "running", 40, 100)
    assert model_status(db, ns, "hash-test") == ModelStatus("hash-test", "new-model", 2, 5, "running")


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
