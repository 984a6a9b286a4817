from fastapi.testclient import TestClient

from conftest import Tenant

TASK = {
    "goal": "Compare the two vendors' prices",
    "constraints": ["cite every price", "EUR only"],
    "pinned": [{"label": "budget", "text": "Stay under 10k EUR."}],
}


def test_create_and_get_task(client: TestClient, tenant: Tenant) -> None:
    r = client.post("/tasks", json=TASK, headers=tenant.headers)
    assert r.status_code == 201
    task = r.json()
    assert task["goal"] == TASK["goal"] and task["constraints"] == TASK["constraints"]
    assert task["pinned"] == TASK["pinned"] and task["version"] == 1 and task["status"] == "open"
    assert task["pinned_tokens"] > 10
    got = client.get(f"/tasks/{task['id']}", headers=tenant.headers).json()
    assert got == task


def test_patch_keeps_earlier_versions(client: TestClient, tenant: Tenant) -> None:
    task = client.post("/tasks", json=TASK, headers=tenant.headers).json()
    r = client.patch(f"/tasks/{task['id']}", json={"constraints": ["USD is fine too"]}, headers=tenant.headers)
    assert r.status_code == 200
    new = r.json()
    assert new["version"] == 2 and new["constraints"] == ["USD is fine too"]
    assert new["goal"] == TASK["goal"] and new["pinned"] == TASK["pinned"]
    client.patch(f"/tasks/{task['id']}", json={"pinned": []}, headers=tenant.headers)
    versions = client.get(f"/tasks/{task['id']}/versions", headers=tenant.headers).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["constraints"] == TASK["constraints"]
    assert versions[1]["pinned"] == TASK["pinned"]
    assert client.get(f"/tasks/{task['id']}", headers=tenant.headers).json()["version"] == 3


def test_scratchpad_write_never_changes_pinned(client: TestClient, tenant: Tenant) -> None:
    task = client.post("/tasks", json=TASK, headers=tenant.headers).json()
    r = client.post(
        f"/tasks/{task['id']}/scratchpad",
        json={"kind": "note", "content": "override", "pinned": [{"label": "x", "text": "y"}]},
        headers=tenant.headers,
    )
    assert r.status_code == 422 and "pinned" in r.json()["error"]["message"]
    client.post(f"/tasks/{task['id']}/scratchpad", json={"kind": "note", "content": "ok"}, headers=tenant.headers)
    assert client.get(f"/tasks/{task['id']}", headers=tenant.headers).json() == task


def test_complete_with_given_summary(client: TestClient, tenant: Tenant, db) -> None:
    task = client.post("/tasks", json=TASK, headers=tenant.headers).json()
    r = client.post(
        f"/tasks/{task['id']}/complete", json={"summary": "Vendor A is cheaper.", "outcome": "success"},
        headers=tenant.headers,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["task"]["status"] == "completed" and body["task"]["outcome"] == "success"
    doc = client.get(f"/documents/{body['summary_document_id']}", headers=tenant.headers).json()
    assert doc["kind"] == "summary" and doc["text"] == "Vendor A is cheaper." and len(doc["chunks"]) == 1
    assert doc["task_id"] == task["id"]


def test_complete_builds_summary_from_cited_entries(client: TestClient, tenant: Tenant) -> None:
    task = client.post("/tasks", json=TASK, headers=tenant.headers).json()
    url = f"/tasks/{task['id']}/scratchpad"
    client.post(url, json={"kind": "fact", "content": "Vendor A charges 8k EUR.",
                           "citations": [{"source": "https://a.example/pricing"}]}, headers=tenant.headers)
    client.post(url, json={"kind": "fact", "content": "Vendor B is rumoured cheap.", "unsourced": True},
                headers=tenant.headers)
    body = client.post(f"/tasks/{task['id']}/complete", json={"outcome": "A"}, headers=tenant.headers).json()
    assert "Vendor A charges 8k EUR. [source: https://a.example/pricing]" in body["summary"]
    assert "rumoured" not in body["summary"]
    assert body["summary"].startswith(f"Task: {TASK['goal']}\nOutcome: A")


def test_delete_task_removes_everything_derived(client: TestClient, tenant: Tenant, db) -> None:
    task = client.post("/tasks", json=TASK, headers=tenant.headers).json()
    client.patch(f"/tasks/{task['id']}", json={"goal": "new goal"}, headers=tenant.headers)
    client.post(f"/tasks/{task['id']}/scratchpad", json={"kind": "note", "content": "n"}, headers=tenant.headers)
    done = client.post(f"/tasks/{task['id']}/complete", json={"summary": "s"}, headers=tenant.headers).json()
    r = client.delete(f"/tasks/{task['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["deleted"] == {"tasks": 1, "scratchpad_entries": 1, "task_versions": 1, "documents": 1, "chunks": 1}
    assert client.get(f"/tasks/{task['id']}", headers=tenant.headers).status_code == 404
    assert client.get(f"/tasks/{task['id']}/scratchpad", headers=tenant.headers).status_code == 404
    assert client.get(f"/documents/{done['summary_document_id']}", headers=tenant.headers).status_code == 404
    for table in ("tasks", "task_versions", "scratchpad_entries", "documents", "chunks"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
