import os
import stat

from fastapi.testclient import TestClient

from agentmem.core.admin_token import resolve_admin_token
from agentmem.core.settings import Settings
from conftest import Tenant


def test_namespace_and_key_lifecycle(client: TestClient, admin_headers: dict[str, str], db) -> None:
    r = client.post("/admin/namespaces", json={"name": "acme"}, headers=admin_headers)
    assert r.status_code == 201 and r.json()["name"] == "acme"
    r = client.post("/admin/namespaces/acme/keys", json={"label": "agent-1"}, headers=admin_headers)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "key", "label", "namespace", "role", "expires_at"} and body["key"].startswith("amk_")
    assert body["role"] == "operator" and body["expires_at"] is None  # what every key could do before roles
    # Stored only as a hash: the key's text is nowhere in the table.
    stored = db.execute("SELECT key_hash, label FROM api_keys").fetchall()
    assert len(stored) == 1 and body["key"].encode() not in bytes(stored[0][0])
    r = client.post("/tasks", json={"goal": "g"}, headers={"Authorization": f"Bearer {body['key']}"})
    assert r.status_code == 201


def test_delete_namespace_returns_receipt(client: TestClient, admin_headers: dict[str, str], tenant: Tenant) -> None:
    client.post("/tasks", json={"goal": "g"}, headers=tenant.headers)
    client.put("/documents", json={"source_uri": "a", "text": "some text"}, headers=tenant.headers)
    r = client.delete(f"/admin/namespaces/{tenant.name}", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["deleted"] == {"api_keys": 1, "tasks": 1, "scratchpad_entries": 0, "documents": 1, "chunks": 1}
    assert client.post("/tasks", json={"goal": "g"}, headers=tenant.headers).status_code == 401
    assert client.delete(f"/admin/namespaces/{tenant.name}", headers=admin_headers).status_code == 404


def test_admin_token_generated_once_with_mode_0600(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=None)
    token, path = resolve_admin_token(settings)
    assert path is not None and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, _ = resolve_admin_token(settings)
    assert again == token and len(token) > 30


def test_admin_token_from_environment_wins(tmp_path) -> None:
    token, path = resolve_admin_token(Settings(data_dir=tmp_path, admin_token="from-env"))
    assert token == "from-env" and path is None and not (tmp_path / "admin_token").exists()
