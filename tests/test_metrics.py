"""The Prometheus text format as written by agentmem.api.metrics, and /metrics behind the admin token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from agentmem.api.metrics import Family, render
from conftest import ADMIN_TOKEN, Tenant


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
