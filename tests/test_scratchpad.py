from fastapi.testclient import TestClient

from agentmem.core.tokens import count_tokens
from conftest import Tenant
from agentmem.memory.hashing import content_hash


def _task(client: TestClient, tenant: Tenant) -> str:
    return client.post("/tasks", json={"goal": "g"}, headers=tenant.headers).json()["id"]


def test_entries_record_hash_tokens_time_and_order(client: TestClient, tenant: Tenant) -> None:
    tid = _task(client, tenant)
    url = f"/tasks/{tid}/scratchpad"
    texts = ["first step result", "second step, longer result text", "third"]
    for i, text in enumerate(texts):
        r = client.post(url, json={"kind": "result", "content": text, "step": i, "summary": f"s{i}",
                                   "citations": [{"source": "tool:search", "locator": f"q{i}",
                                                  "retrieved_at": "2026-01-02T03:04:05Z", "quote": "..."}]},
                        headers=tenant.headers)
        assert r.status_code == 201, r.text
        e = r.json()
        assert e["content_hash"] == content_hash(text) and e["tokens"] == count_tokens(text)
        assert e["summary_tokens"] == count_tokens(f"s{i}") and e["created_at"]
    entries = client.get(url, headers=tenant.headers).json()
    assert [e["content"] for e in entries] == texts
    assert entries[0]["citations"] == [
        {"source": "tool:search", "locator": "q0", "retrieved_at": "2026-01-02T03:04:05Z", "quote": "..."}
    ]


def test_claims_need_a_citation_unless_declared_unsourced(client: TestClient, tenant: Tenant) -> None:
    url = f"/tasks/{_task(client, tenant)}/scratchpad"
    for kind in ("fact", "result"):
        r = client.post(url, json={"kind": kind, "content": "x"}, headers=tenant.headers)
        assert r.status_code == 422 and "citation" in r.json()["error"]["message"]
    assert client.post(url, json={"kind": "note", "content": "a plain note"}, headers=tenant.headers).status_code == 201
    r = client.post(url, json={"kind": "fact", "content": "a hunch", "unsourced": True}, headers=tenant.headers)
    assert r.status_code == 201 and r.json()["unsourced"] is True
    assert len(client.get(url, headers=tenant.headers).json()) == 2


def test_unsourced_listing_is_the_self_check(client: TestClient, tenant: Tenant) -> None:
    url = f"/tasks/{_task(client, tenant)}/scratchpad"
    client.post(url, json={"kind": "fact", "content": "sourced", "citations": [{"source": "s"}]}, headers=tenant.headers)
    client.post(url, json={"kind": "fact", "content": "claim without source", "unsourced": True}, headers=tenant.headers)
    client.post(url, json={"kind": "note", "content": "note without source"}, headers=tenant.headers)
    unsourced = client.get(url, params={"unsourced": "true"}, headers=tenant.headers).json()
    assert [e["content"] for e in unsourced] == ["claim without source"]
