"""Drift probes through the API, with the real model: they measure what /search returns, keep a
history, score the namespace against its baseline, and alert (log line, metric, webhook) when
quality drops; a failing webhook never fails the run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from conftest import ADMIN_TOKEN, Tenant
from agentmem.jobs import queue
from webhook_server import receiver, unreachable_url

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CORPUS = {
    "kb://ferry": "The ferry to the island leaves the harbour at nine every morning and returns at six.",
    "kb://museum": "The tile museum opens at ten and is closed on Mondays; entry costs five euros.",
    "kb://tram": "Tram 28 climbs through the old town; a single ticket costs three euros on board.",
    "kb://castle": "The castle on the hill was built in the eleventh century and has views over the river.",
    "kb://bakery": "The bakery near the monastery sells custard tarts, best eaten warm with cinnamon.",
    "kb://fado": "Fado houses in the old quarter play traditional music late into the night.",
}


@pytest.fixture
def settings(fresh_db: str, tmp_path: Path) -> Settings:
    """Webhook attempts kept short and without backoff: the receivers here fail on purpose."""
    return Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, scheduler=False,
                    webhook_timeout_seconds=0.3, webhook_attempts=2, webhook_backoff_seconds=0,
                    webhook_allow_hosts="127.0.0.1")  # the test receiver listens on loopback


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def _corpus(client: TestClient, t: Tenant) -> dict[str, str]:
    return {uri: _ok(client.put("/documents", json={"source_uri": uri, "text": text}, headers=t.headers))["id"]
            for uri, text in CORPUS.items()}


def _probe(client: TestClient, t: Tenant, query: str, expected: list[str], **extra: Any) -> dict[str, Any]:
    return _ok(client.post("/probes", json={"query": query, "expected": expected, **extra}, headers=t.headers), 201)


def _run(client: TestClient, t: Tenant) -> dict[str, Any]:
    ran = _ok(client.post("/probes/run", headers=t.headers))
    assert ran["job"]["status"] == "done" and ran["ran_here"], ran
    return ran


def _invalid(r: Any, field: str, *says: str) -> None:
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert field in message and all(s in message for s in says), message


def test_probes_are_validated_created_listed_and_deleted(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    for body, field, says in [
        ({"query": "q", "expected": []}, "expected", "at least one source_uri"),
        ({"query": "q", "expected": ["kb://a", "  "]}, "expected.1", "empty or only whitespace"),
        ({"query": "q", "expected": "kb://a"}, "expected", ""),
        ({"query": " ", "expected": ["kb://a"]}, "query", "empty"),
        ({"expected": ["kb://a"]}, "query", "required"),
        ({"query": "q", "expected": ["kb://a"], "k": 0}, "k", "greater than or equal to 1"),
        ({"query": "q", "expected": ["kb://a"], "k": 101}, "k", "less than or equal to 100"),
        ({"query": "q", "expected": ["kb://a"], "strategy": "bm25"}, "strategy", "hybrid_rrf"),
        ({"query": "q", "expected": ["kb://a"], "threshold": 0.5}, "threshold", "unknown field"),
        ({"query": "q", "expected": [f"kb://{i}" for i in range(101)]}, "expected", "at most 100"),
    ]:
        _invalid(client.post("/probes", json=body, headers=h), field, says)
    assert _ok(client.get("/probes", headers=h)) == []

    p = _probe(client, tenant, "when does the ferry leave", ["kb://ferry", "kb://ferry", "kb://tram"])
    assert p["expected"] == ["kb://ferry", "kb://tram"] and p["k"] == 10 and p["strategy"] is None
    assert p["latest_run"] is None
    assert [x["id"] for x in _ok(client.get("/probes", headers=h))] == [p["id"]]
    assert _ok(client.get(f"/probes/{p['id']}", headers=h))["query"] == "when does the ferry leave"
    assert _ok(client.get(f"/probes/{p['id']}/runs", headers=h)) == []
    _invalid(client.get(f"/probes/{p['id']}/runs?limit=0", headers=h), "limit")
    _invalid(client.get("/probes/not-a-uuid", headers=h), "probe_id", "UUID")
    assert _ok(client.delete(f"/probes/{p['id']}", headers=h)) == {"id": p["id"],
                                                                   "deleted": {"probes": 1, "probe_runs": 0}}
    for r in (client.get(f"/probes/{p['id']}", headers=h), client.delete(f"/probes/{p['id']}", headers=h)):
        assert r.status_code == 404 and "no probe with id" in r.json()["error"]["message"]


def _search_sources(client: TestClient, t: Tenant, query: str, k: int, strategy: str | None = None) -> list[str]:
    body: dict[str, Any] = {"query": query, "k": k}
    if strategy:
        body["strategy"] = strategy
    hits = _ok(client.post("/search", json=body, headers=t.headers))["results"]
    return list(dict.fromkeys(h["source_uri"] for h in hits))


def test_a_probe_scores_what_search_returns(client: TestClient, tenant: Tenant) -> None:
    _corpus(client, tenant)
    # The namespace's default strategy applies to probes without one, as it does to /search.
    _ok(client.put("/settings/retrieval", json={"strategy": "keyword_only"}, headers=tenant.headers))
    cases = [
        ("ferry to the island", ["kb://ferry", "kb://nowhere"], 3, None),
        ("where can I hear traditional music at night", ["kb://fado", "kb://castle"], 2, "vector_only"),
        ("custard tarts with cinnamon", ["kb://bakery"], 1, "hybrid_rrf"),
    ]
    probes = [_probe(client, tenant, q, e, k=k, **({"strategy": s} if s else {})) for q, e, k, s in cases]
    ran = _run(client, tenant)
    assert [r["probe_id"] for r in ran["results"]] == [p["id"] for p in probes]
    recalls = []
    for (query, expected, k, strategy), result in zip(cases, ran["results"], strict=True):
        found = _search_sources(client, tenant, query, k, strategy)
        assert result["found"] == found and result["query"] == query
        hits = [s for s in expected if s in found]
        assert result["recall"] == pytest.approx(len(hits) / len(expected))
        first = next((i for i, s in enumerate(found, 1) if s in expected), None)
        assert result["reciprocal_rank"] == pytest.approx(1 / first if first else 0)
        assert result["missing"] == [s for s in expected if s not in found]
        recalls.append(result["recall"])
    assert "kb://nowhere" in ran["results"][0]["missing"]  # a source that was never stored
    assert ran["results"][0]["recall"] <= 0.5 and ran["results"][2]["recall"] == 1.0  # the model finds the tarts
    assert ran["score"] == pytest.approx(sum(recalls) / len(recalls), abs=1e-6)
    assert ran["job"]["requested_by"] == "api" and ran["job"]["result"]["probes"] == 3


def test_history_latest_run_and_freshness_of_the_expected_documents(
        client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    ids = _corpus(client, tenant)
    db.execute("UPDATE documents SET last_verified_at = now() - interval '30 days' WHERE id = %s", (ids["kb://tram"],))
    p = _probe(client, tenant, "tram ticket price", ["kb://tram", "kb://ferry", "kb://gone"], k=5)
    first = _run(client, tenant)
    second = _run(client, tenant)
    assert first["results"][0]["expected_freshness"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-3)
    runs = _ok(client.get(f"/probes/{p['id']}/runs", headers=tenant.headers))
    assert [r["job_id"] for r in runs] == [second["job"]["id"], first["job"]["id"]]  # newest first
    assert [r["job_id"] for r in _ok(client.get(f"/probes/{p['id']}/runs?limit=1", headers=tenant.headers))] == [
        second["job"]["id"]]
    [listed] = _ok(client.get("/probes", headers=tenant.headers))
    assert listed["latest_run"]["job_id"] == second["job"]["id"]
    assert _ok(client.get(f"/probes/{p['id']}", headers=tenant.headers))["latest_run"] == listed["latest_run"]
    assert _ok(client.delete(f"/probes/{p['id']}", headers=tenant.headers))["deleted"] == {"probes": 1,
                                                                                          "probe_runs": 2}


def _alert_kinds(ran: dict[str, Any]) -> list[str]:
    return sorted(a["kind"] for a in ran["alerts"])


def test_score_baseline_and_alerts_fire_when_quality_drops(
        client: TestClient, tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    h = tenant.headers
    ids = _corpus(client, tenant)
    ferry = _probe(client, tenant, "ferry to the island harbour", ["kb://ferry"], k=3)
    _probe(client, tenant, "tile museum opening hours", ["kb://museum"], k=3)

    first = _run(client, tenant)
    assert first["score"] == 1.0 and first["alerts"] == []
    assert first["baseline"]["score"] == 1.0 and first["baseline"]["how"] == "first_run"
    assert first["baseline"]["probes"] == 2

    # The ferry's document disappears: its probe falls below 0.5, and the score drops 0.5 from 1.0.
    _ok(client.delete(f"/documents/{ids['kb://ferry']}", headers=h))
    with caplog.at_level(logging.WARNING, logger="agentmem.alerts"):
        dropped = _run(client, tenant)
    assert dropped["score"] == 0.5 and _alert_kinds(dropped) == ["probe_below_threshold", "score_dropped"]
    assert [r["alert"] for r in dropped["results"]] == [True, False]
    below = next(a for a in dropped["alerts"] if a["kind"] == "probe_below_threshold")
    assert below["probe_id"] == ferry["id"] and below["details"]["missing"] == ["kb://ferry"]
    assert below["webhook"] is None  # no webhook configured
    lines = [json.loads(r.message) for r in caplog.records if r.name == "agentmem.alerts"]
    assert sorted(x["kind"] for x in lines) == ["probe_below_threshold", "score_dropped"]
    assert all(x["namespace"] == "alpha" and x["event"] == "agentmem.alert" for x in lines)

    assert _run(client, tenant)["alerts"] == []  # still down: said already, not repeated every run
    restored = _ok(client.put("/documents", json={"source_uri": "kb://ferry", "text": CORPUS["kb://ferry"]},
                              headers=h))["id"]
    recovered = _run(client, tenant)
    assert recovered["score"] == 1.0 and recovered["alerts"] == []
    _ok(client.delete(f"/documents/{restored}", headers=h))
    assert _alert_kinds(_run(client, tenant)) == ["probe_below_threshold", "score_dropped"]  # down again

    alerts = _ok(client.get("/alerts", headers=h))
    assert len(alerts) == 4 and alerts[0]["created_at"] >= alerts[-1]["created_at"]
    assert len(_ok(client.get("/alerts?kind=score_dropped", headers=h))) == 2
    _invalid(client.get("/alerts?kind=bad", headers=h), "kind")
    quality = _ok(client.get("/probes/score", headers=h))
    assert (quality["score"], quality["baseline"]["score"], quality["drop"], quality["probes"]) == (0.5, 1.0, 0.5, 2)
    assert [x["score"] for x in quality["history"]] == [0.5, 1.0, 0.5, 0.5, 1.0]
    assert len(quality["alerts"]) == 4 and quality["settings"]["probe_below"] == 0.5

    metrics = client.get("/metrics", headers=ADMIN)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'agentmem_probe_score{namespace="alpha"} 0.5\n' in metrics.text
    assert 'agentmem_probe_baseline{namespace="alpha"} 1\n' in metrics.text
    assert 'agentmem_alerts_total{namespace="alpha",kind="score_dropped"} 2\n' in metrics.text
    assert 'agentmem_alerts_total{namespace="alpha",kind="probe_below_threshold"} 2\n' in metrics.text
    assert 'agentmem_documents{namespace="alpha"} 5\n' in metrics.text

    # Accepting the new level as the baseline: the score is no longer "dropped".
    assert _ok(client.post("/probes/baseline", headers=h))["score"] == 0.5
    assert _run(client, tenant)["alerts"] == []
    # A new probe changes what the score measures: the next run starts a new baseline, no score alert.
    _probe(client, tenant, "castle built in which century", ["kb://nowhere-either"], k=3)
    grown = _run(client, tenant)
    assert grown["baseline"]["how"] == "first_run" and grown["baseline"]["probes"] == 3
    assert grown["score"] == pytest.approx(1 / 3) and _alert_kinds(grown) == ["probe_below_threshold"]


def test_baseline_set_by_hand(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    r = client.post("/probes/baseline", headers=h)
    assert r.status_code == 409 and "add some with POST /probes" in r.json()["error"]["message"]
    _corpus(client, tenant)
    _probe(client, tenant, "tram ticket", ["kb://tram"], k=3)
    r = client.post("/probes/baseline", json={}, headers=h)
    assert r.status_code == 409 and "run the probes first" in r.json()["error"]["message"]
    _invalid(client.post("/probes/baseline", json={"score": 1.5}, headers=h), "score")
    _invalid(client.post("/probes/baseline", json={"baseline": 0.5}, headers=h), "baseline", "unknown field")
    assert _ok(client.post("/probes/baseline", json={"score": 0.8}, headers=h))["how"] == "set"
    ran = _run(client, tenant)
    assert ran["baseline"]["score"] == 0.8 and ran["baseline"]["how"] == "set"  # kept: same probes
    assert _ok(client.post("/probes/baseline", headers=h))["score"] == ran["score"]
    _probe(client, tenant, "castle", ["kb://castle"])
    r = client.post("/probes/baseline", headers=h)
    assert r.status_code == 409 and "the probes changed" in r.json()["error"]["message"]


def test_alerting_settings_are_validated_and_keep_the_baseline(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    defaults = {"probe_below": 0.5, "score_drop": 0.1, "webhook_url": None, "baseline": None}
    assert _ok(client.get("/settings/alerting", headers=h)) == defaults
    for body, field in [
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url"),
        ({"webhook_url": "hooks.example.com/x"}, "webhook_url"),
        ({"webhook_url": "http://"}, "webhook_url"),
        ({"webhook_url": "http://example.com:99999/x"}, "webhook_url"),
        ({"webhook_url": "http://example.com/a b"}, "webhook_url"),
        ({"webhook_url": 5}, "webhook_url"),
        ({"probe_below": 1.5}, "probe_below"),
        ({"score_drop": -0.1}, "score_drop"),
        ({"baseline": {"score": 1}}, "baseline"),
    ]:
        _invalid(client.put("/settings/alerting", json=body, headers=h), field)
    assert _ok(client.get("/settings/alerting", headers=h)) == defaults
    _corpus(client, tenant)
    _probe(client, tenant, "tram ticket", ["kb://tram"], k=3)
    _run(client, tenant)
    chosen = {"probe_below": 0.9, "score_drop": 0.05, "webhook_url": "https://hooks.example.com/agentmem?x=1"}
    out = _ok(client.put("/settings/alerting", json=chosen, headers=h))
    assert {k: out[k] for k in chosen} == chosen and out["baseline"]["how"] == "first_run"
    assert _ok(client.get("/settings/alerting", headers=h)) == out
    reset = _ok(client.put("/settings/alerting", json={}, headers=h))
    assert reset == {**defaults, "baseline": out["baseline"]}


@pytest.mark.parametrize("receiver_does", ["answer 200", "answer 500", "time out", "not exist"])
def test_the_webhook_gets_each_alert_and_a_failing_one_never_fails_the_run(
        receiver_does: str, client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    _corpus(client, tenant)
    probe = _probe(client, tenant, "ferry to the island", ["kb://retired"], k=3)
    behaviour = {"answer 500": {"statuses": [500, 500]}, "time out": {"hang": True}}.get(receiver_does, {})
    with receiver(**behaviour) as rec:
        url = unreachable_url() if receiver_does == "not exist" else rec.url
        _ok(client.put("/settings/alerting", json={"webhook_url": url}, headers=h))
        ran = _run(client, tenant)  # done, whatever the receiver did
    [alert] = ran["alerts"]
    assert alert["kind"] == "probe_below_threshold" and alert["probe_id"] == probe["id"]
    expected = {
        "answer 200": ("delivered", 1),
        "answer 500": ("failed: http 500 (2 attempts)", 2),
        "time out": ("failed: timeout (2 attempts)", 2),
        "not exist": (None, 2),
    }[receiver_does]
    if expected[0] is None:
        assert alert["webhook"] == "failed: refused (2 attempts)"
    else:
        assert alert["webhook"] == expected[0]
    assert alert["webhook_attempts"] == expected[1]
    assert ran["job"]["result"]["webhooks_delivered"] == (receiver_does == "answer 200")
    if receiver_does in ("answer 200", "answer 500"):
        assert len(rec.received) == expected[1]
        sent = rec.received[0]
        assert (sent["namespace"], sent["kind"], sent["id"]) == ("alpha", "probe_below_threshold", alert["id"])
        assert sent["details"]["missing"] == ["kb://retired"]
    failures = 0 if receiver_does == "answer 200" else 1
    assert f'agentmem_alert_webhook_failures_total{{namespace="alpha"}} {failures}\n' in client.get(
        "/metrics", headers=ADMIN).text


def test_a_receiver_that_does_not_answer_is_sent_one_alert_of_the_run(client: TestClient, tenant: Tenant) -> None:
    """A dead receiver costs a run one alert's attempts (3 x 5 s by default), not that for every alert."""
    h = tenant.headers
    _corpus(client, tenant)
    for query in ("ferry to the island", "night bus"):
        _probe(client, tenant, query, ["kb://retired"], k=3)
    with receiver(hang=True) as rec:
        _ok(client.put("/settings/alerting", json={"webhook_url": rec.url}, headers=h))
        ran = _run(client, tenant)
        asked = len(rec.received)
    outcomes = sorted((a["webhook"], a["webhook_attempts"]) for a in ran["alerts"] if a["probe_id"])
    assert outcomes == [("failed: not sent: the receiver did not answer an earlier alert of this run", 0),
                        ("failed: timeout (2 attempts)", 2)], outcomes
    assert asked == 2


def test_running_without_probes_is_409(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    r = client.post("/probes/run", headers=tenant.headers)
    assert r.status_code == 409 and "POST /probes" in r.json()["error"]["message"]
    assert db.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_a_run_held_by_another_worker_answers_202_with_the_job(
        client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    _probe(client, tenant, "tram ticket", ["kb://tram"], k=3)
    ns = db.execute("SELECT id FROM namespaces WHERE name = 'alpha'").fetchone()[0]
    held, _ = queue.enqueue(db, "probes", ns, requested_by="schedule")
    assert queue.claim(db, "another-process", ["probes"]) is not None
    r = client.post("/probes/run", headers=tenant.headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["job"]["id"] == str(held.id) and body["job"]["status"] == "running" and not body["ran_here"]
    assert body["results"] == [] and body["score"] is None
    assert db.execute("SELECT count(*) FROM probe_runs").fetchone() == (0,)  # nothing ran here
