"""The Prometheus text format as written by agentmem.api.metrics, and /metrics behind the admin token."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from agentmem.api.app import create_app
from agentmem.embeddings.queue_metrics import observe_wait, set_depth
from agentmem.api.metrics import Family, render
from agentmem.core.settings import Settings
from conftest import ADMIN_TOKEN, Tenant, make_tenant


def test_render_writes_help_type_and_escaped_labels() -> None:
    text = render([
        Family("agentmem_probe_score", "gauge", "Mean recall@k.", [({"namespace": "acme"}, 0.75)]),
        Family("agentmem_alerts_total", "counter", "Alerts.\nRaised by probes.",
               [({"namespace": 'we"ird\\ns\n', "kind": "score_dropped"}, 3.0)]),
        Family("agentmem_empty", "gauge", "Nothing yet."),
    ])
    assert text == (
        "# HELP agentmem_probe_score Mean recall@k.\n"
        "# TYPE agentmem_probe_score gauge\n"
        'agentmem_probe_score{namespace="acme"} 0.75\n'
        "# HELP agentmem_alerts_total Alerts. Raised by probes.\n"
        "# TYPE agentmem_alerts_total counter\n"
        'agentmem_alerts_total{namespace="we\\"ird\\\\ns\\n",kind="score_dropped"} 3\n'
        "# HELP agentmem_empty Nothing yet.\n"
        "# TYPE agentmem_empty gauge\n"
    )


def test_metrics_need_the_admin_token_and_cover_every_namespace(client: TestClient, tenant: Tenant,
                                                                 other_tenant: Tenant) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=tenant.headers).status_code == 401  # a namespace key is not enough
    for t, n in ((tenant, 2), (other_tenant, 1)):
        for i in range(n):
            r = client.put("/documents", json={"source_uri": f"kb://{i}", "text": f"Document number {i}."},
                           headers=t.headers)
            assert r.status_code == 200, r.text
    r = client.post("/probes", json={"query": "document", "expected": ["kb://0"]}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    assert 'agentmem_documents{namespace="alpha"} 2\n' in text and 'agentmem_documents{namespace="beta"} 1\n' in text
    assert 'agentmem_documents_stale{namespace="alpha"} 0\n' in text
    assert 'agentmem_probes{namespace="alpha"} 1\n' in text and 'agentmem_probes{namespace="beta"}' not in text
    assert 'agentmem_alerts_total{namespace="alpha",kind="probe_below_threshold"} 0\n' in text
    assert "agentmem_probe_score{" not in text  # no run yet: no score to report


def test_metrics_add_this_process_requests_refusals_pool_and_embedding_queue(settings: Settings,
                                                                               embedder: Any) -> None:
    app = create_app(settings.model_copy(update={"namespace_requests_per_second": 0.01, "namespace_burst": 2}),
                     embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as client:
        alpha = make_tenant(client, "alpha")
        assert client.get("/settings/retrieval", headers=alpha.headers).status_code == 200
        assert client.get("/tasks/00000000-0000-0000-0000-000000000000", headers=alpha.headers).status_code == 404
        assert client.get("/settings/retrieval", headers=alpha.headers).status_code == 429  # burst of 2 spent
        set_depth("metrics-test-model", "query", 3)  # as the embedding scheduler feeds them
        observe_wait("metrics-test-model", "query", 0.2)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    assert 'agentmem_http_requests_total{method="GET",route="/settings/retrieval",status="200"} 1.0' in text
    assert 'agentmem_http_requests_total{method="GET",route="/tasks/{task_id}",status="404"} 1.0' in text
    # refused at the door, before routing: still named by its route template
    assert 'agentmem_http_requests_total{method="GET",route="/settings/retrieval",status="429"} 1.0' in text
    assert 'agentmem_http_request_seconds_bucket{le="+Inf",method="GET",route="/settings/retrieval",status="200"} 1.0' \
        in text
    assert 'agentmem_rejections_total{namespace="alpha",reason="rate",status="429"} 1.0' in text
    assert 'agentmem_db_pool_connections{state="in_use"} 0.0' in text  # none held between requests
    assert "agentmem_db_pool_max 24.0" in text  # max_in_flight // 2 + io_threads
    assert "agentmem_db_pool_waiting 0.0" in text and "agentmem_requests_queued 0.0" in text
    assert "agentmem_requests_in_flight 0.0" in text  # /metrics is not counted: it is let by
    assert 'agentmem_embed_queue_depth{kind="query",model="metrics-test-model"} 3.0' in text
    assert 'agentmem_embed_wait_seconds_count{kind="query",model="metrics-test-model"} 1.0' in text
    assert 'agentmem_documents{namespace="alpha"}' not in text  # and the database's numbers are still there:
    assert "# TYPE agentmem_probe_score gauge" in text
