"""Freshness: the formula, its SQL twin, the endpoints, and freshness as a ranking signal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings as hsettings, strategies as st

from conftest import Tenant
from agentmem.memory.hashing import content_hash
from agentmem.memory.freshness import FreshnessPolicy, freshness_score, is_stale, weighted

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def test_score_halves_every_refresh_interval() -> None:
    assert freshness_score(NOW, NOW, 30) == 1.0
    assert freshness_score(NOW, NOW - timedelta(days=30), 30) == pytest.approx(0.5)
    assert freshness_score(NOW, NOW - timedelta(days=60), 30) == pytest.approx(0.25)
    assert freshness_score(NOW, NOW - timedelta(days=7), 7) == pytest.approx(0.5)
    assert freshness_score(NOW, NOW + timedelta(days=1), 30) == 1.0  # a clock ahead never scores above 1
    assert freshness_score(NOW, NOW, 30, vectors_current=False) == 0.0


def test_formula_is_defined_for_any_stored_interval() -> None:
    """No division by zero, no underflow: the interval and the exponent are clamped."""
    for days in (0.0, -1.0, 1e-300, float("nan"), 1e300):
        for age in (0, 1, 400, 36_500 * 10):
            score = freshness_score(NOW, NOW - timedelta(days=age), days)
            assert 0 < score <= 1, (days, age, score)
    assert freshness_score(NOW, NOW - timedelta(days=1), 0) == pytest.approx(0.5 ** 1000)
    assert freshness_score(NOW, NOW - timedelta(days=1e-3), 0) == pytest.approx(0.5 ** 1.44)


@given(a=st.floats(0, 3650), b=st.floats(0, 3650), interval=st.floats(0, 3650))
@hsettings(max_examples=200)
def test_older_is_never_fresher(a: float, b: float, interval: float) -> None:
    older, newer = max(a, b), min(a, b)
    s_old = freshness_score(NOW, NOW - timedelta(days=older), interval)
    s_new = freshness_score(NOW, NOW - timedelta(days=newer), interval)
    assert 0.0 <= s_old <= s_new <= 1.0


def test_stale_threshold_and_ranking_weight() -> None:
    policy = FreshnessPolicy()
    assert (policy.refresh_interval_days, policy.stale_below, policy.weight) == (30.0, 0.5, 0.0)
    assert is_stale(0.49, policy) and not is_stale(0.5, policy)
    assert weighted(0.8, 0.1, 0.0) == 0.8  # weight 0: rankings untouched
    assert weighted(0.8, 0.5, 1.0) == pytest.approx(0.4)
    assert weighted(0.8, 0.5, 0.5) == pytest.approx(0.6)
    assert FreshnessPolicy.from_settings({"weight": 0.3}) == FreshnessPolicy(weight=0.3)


def _put(client: TestClient, t: Tenant, uri: str, text: str, **extra: Any) -> str:
    r = client.put("/documents", json={"source_uri": uri, "text": text, **extra}, headers=t.headers)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _age(db: psycopg.Connection[Any], doc_id: str, days: float) -> None:
    db.execute("UPDATE documents SET last_verified_at = now() - make_interval(secs => %s) WHERE id = %s",
               (days * 86400, doc_id))


def test_namespace_and_document_freshness(client: TestClient, tenant: Tenant, other_tenant: Tenant,
                                          db: psycopg.Connection[Any]) -> None:
    fresh = _put(client, tenant, "kb://fresh", "The ferry leaves at nine.")
    old = _put(client, tenant, "kb://old", "The museum opens at ten.")
    older = _put(client, tenant, "kb://older", "The tram costs three euros.")
    patient = _put(client, tenant, "kb://yearly", "The castle was built in 1147.", refresh_interval_days=365)
    _age(db, old, 45)
    _age(db, older, 90)
    _age(db, patient, 90)
    r = client.get("/freshness", headers=tenant.headers)
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["documents"] == 4 and f["stale"] == 2
    assert f["settings"] == {"refresh_interval_days": 30.0, "stale_below": 0.5, "weight": 0.0}
    assert [d["source_uri"] for d in f["worst"]] == ["kb://older", "kb://old", "kb://yearly", "kb://fresh"]
    by_uri = {d["source_uri"]: d for d in f["worst"]}
    assert by_uri["kb://older"]["score"] == pytest.approx(0.125, abs=1e-3) and by_uri["kb://older"]["stale"]
    assert by_uri["kb://yearly"]["score"] == pytest.approx(0.5 ** (90 / 365), abs=1e-3)
    assert by_uri["kb://yearly"]["refresh_interval_days"] == 365 and not by_uri["kb://yearly"]["stale"]
    expected_mean = (1 + 0.5 ** 1.5 + 0.125 + 0.5 ** (90 / 365)) / 4
    assert f["score"] == pytest.approx(expected_mean, abs=1e-3)
    assert client.get("/freshness?worst=1", headers=tenant.headers).json()["worst"][0]["source_uri"] == "kb://older"

    d = client.get(f"/documents/{old}/freshness", headers=tenant.headers).json()
    assert d["stale"] and d["vectors_current"] and d["embedding_models"] == ["all-MiniLM-L6-v2"]
    assert d["content_hash"] == content_hash("The museum opens at ten.")
    assert client.get(f"/documents/{old}/freshness", headers=other_tenant.headers).status_code == 404
    assert client.get("/freshness", headers=other_tenant.headers).json()["documents"] == 0

    # Re-upserting the same content confirms it against the source: fresh again, nothing re-embedded.
    r = client.put("/documents", json={"source_uri": "kb://old", "text": "The museum opens at ten."},
                   headers=tenant.headers)
    assert r.json()["status"] == "unchanged"
    assert client.get(f"/documents/{old}/freshness", headers=tenant.headers).json()["score"] == pytest.approx(1, abs=1e-3)


def test_vectors_from_another_model_score_zero(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    doc = _put(client, tenant, "kb://m", "Vectors made by a model the namespace no longer uses.")
    retired = db.execute("INSERT INTO embedding_models (name, version, dimension) VALUES ('retired-model', '1', 384)"
                         " RETURNING id").fetchone()[0]
    db.execute("UPDATE chunks SET embedding_model_id = %s WHERE document_id = %s", (retired, doc))
    d = client.get(f"/documents/{doc}/freshness", headers=tenant.headers).json()
    assert d["score"] == 0 and d["stale"] and not d["vectors_current"] and d["embedding_models"] == ["retired-model"]


def test_freshness_settings_are_validated_and_applied(client: TestClient, tenant: Tenant,
                                                      db: psycopg.Connection[Any]) -> None:
    for bad in ({"stale_below": 2}, {"weight": -0.1}, {"refresh_interval_days": 0}, {"half_life": 3}):
        r = client.put("/settings/freshness", json=bad, headers=tenant.headers)
        assert r.status_code == 422, (bad, r.text)
    assert client.get("/settings/freshness", headers=tenant.headers).json()["refresh_interval_days"] == 30
    r = client.put("/settings/freshness", json={"refresh_interval_days": 7, "stale_below": 0.8}, headers=tenant.headers)
    assert r.status_code == 200 and r.json() == {"refresh_interval_days": 7, "stale_below": 0.8, "weight": 0.0}
    doc = _put(client, tenant, "kb://weekly", "The bakery sells custard tarts.")
    _age(db, doc, 3)  # 0.5 ** (3/7) = 0.74 < 0.8
    f = client.get("/freshness", headers=tenant.headers).json()
    assert f["stale"] == 1 and f["worst"][0]["score"] == pytest.approx(0.5 ** (3 / 7), abs=1e-3)
    for bad in ({"refresh_interval_days": -1}, {"refresh_interval_days": "soon"}):
        r = client.put("/documents", json={"source_uri": "kb://x", "text": "x", **bad}, headers=tenant.headers)
        assert r.status_code == 422, r.text


def test_freshness_ranks_and_marks_results(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    stale = _put(client, tenant, "kb://a", "Opening hours of the tile museum: 10:00 to 18:00, closed on Mondays.")
    _put(client, tenant, "kb://b", "The tile museum opening hours changed: it now opens at 9, and its cafe at 11.")
    _age(db, stale, 120)

    def search() -> list[dict[str, Any]]:
        r = client.post("/search", json={"query": "tile museum opening hours", "k": 2}, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return r.json()["results"]

    hits = {h["source_uri"]: h for h in search()}
    assert hits["kb://a"]["freshness"] == pytest.approx(0.0625, abs=1e-3)
    assert hits["kb://b"]["freshness"] == pytest.approx(1, abs=1e-3)
    # With weight 1, the stale copy sinks below the fresh one whatever their fused order was.
    client.put("/settings/freshness", json={"weight": 1.0}, headers=tenant.headers)
    weighted_hits = search()
    assert [h["source_uri"] for h in weighted_hits] == ["kb://b", "kb://a"]
    assert weighted_hits[1]["score"] < weighted_hits[0]["score"]

    r = client.post("/context/assemble", json={"query": "tile museum opening hours", "budget_tokens": 500},
                    headers=tenant.headers)
    assert r.status_code == 200, r.text
    items = {i["source_uri"]: i for s in r.json()["sections"] for i in s["items"]}
    assert items["kb://a"]["stale"] is True and items["kb://a"]["freshness"] == pytest.approx(0.0625, abs=1e-3)
    assert items["kb://b"]["stale"] is False
